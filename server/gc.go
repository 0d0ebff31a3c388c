package server

import (
	"os"
	"runtime/debug"
)

// GCPercent is the collector's target when the environment sets no GOGC.
// A gateway's live heap is small next to what each durable write
// allocates (bbolt materializes every page a commit touches), so at Go's
// default of 100 the collector runs dozens of times a second under load;
// at 400 the durable HTTP sendMessage rate rose by about a fifth in the
// load generator, at the cost of a heap that may grow to five times the
// live data between collections. GOMEMLIMIT still caps it when set.
const GCPercent = 400

// TuneGC applies GCPercent unless GOGC is set. It changes the whole
// process, so only a program's main calls it.
func TuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(GCPercent)
	}
}
