package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// The targets that Go benchmarks and tests measure, read back from their
// output (make bench saves it) so that one table holds every DESIGN.md
// target: store appends against the bare bbolt loop, the history page, and
// the long kill -9 and churn runs.

// benchLine is one result line of `go test -bench`: the name without the
// GOMAXPROCS suffix and its metrics by unit.
var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+(.*)$`)

var (
	killLine  = regexp.MustCompile(`(\d+) messages acknowledged before SIGKILL`)
	churnLine = regexp.MustCompile(`(\d+) connections: goroutines (\d+) → (\d+), heap in use (\d+) KiB → (\d+) KiB`)
)

// goBench is what addGoBench found in the saved output.
type goBench struct {
	metrics          map[string]map[string]float64 // benchmark → unit → value
	killAcked        float64
	killPass, killOK bool // the kill -9 test ran, and passed
	churn            []float64
	churnPass        bool
}

func parseGoBench(r io.Reader) (goBench, error) {
	g := goBench{metrics: map[string]map[string]float64{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "--- PASS: TestKill9"):
			g.killPass, g.killOK = true, true
		case strings.HasPrefix(line, "--- FAIL: TestKill9"):
			g.killPass, g.killOK = true, false
		case strings.HasPrefix(line, "--- PASS: TestConnectionChurn"):
			g.churnPass = true
		}
		if m := killLine.FindStringSubmatch(line); m != nil {
			g.killAcked, _ = strconv.ParseFloat(m[1], 64)
		}
		if m := churnLine.FindStringSubmatch(line); m != nil {
			g.churn = nil
			for _, s := range m[1:] {
				v, _ := strconv.ParseFloat(s, 64)
				g.churn = append(g.churn, v)
			}
		}
		m := benchLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		fields := strings.Fields(m[2])
		units := map[string]float64{}
		for i := 0; i+1 < len(fields); i += 2 {
			if v, err := strconv.ParseFloat(fields[i], 64); err == nil {
				units[fields[i+1]] = v
			}
		}
		g.metrics[m[1]] = units
	}
	return g, sc.Err()
}

// addGoBench adds the figures of saved Go benchmark and test output to rep;
// a target whose benchmark is missing from the output is said so.
func addGoBench(r io.Reader, rep *Report) error {
	g, err := parseGoBench(r)
	if err != nil {
		return fmt.Errorf("read go benchmark output: %w", err)
	}
	const phase = "go test"
	for _, w := range []string{"256", "16", "1"} {
		app, bare := g.metrics["BenchmarkAppend/writers="+w]["appends/s"], g.metrics["BenchmarkBareGroupCommit/writers="+w]["appends/s"]
		name := "store appends, " + w + " writers"
		if app == 0 || bare == 0 {
			rep.add(Figure{Phase: phase, Name: name, Target: "≥ 50% of bare bbolt loop", Verdict: "FAIL", Note: "benchmark missing from the output"})
			continue
		}
		rep.add(Figure{Phase: phase, Name: name, Value: app, Unit: "appends/s", Target: "≥ 50% of bare bbolt loop",
			Ratio: app / bare, Baseline: "bare loop", Verdict: atLeast(app/bare, 0.5),
			Note: fmt.Sprintf("bare group-commit loop %.0f appends/s, same writers, same run", bare)})
	}
	for _, h := range []struct{ bench, name string }{
		{"BenchmarkFetchHistory", "history page of 100 of 1,000,000 events, through the bus"},
		{"BenchmarkHistoryPage", "history page of 100 of 1,000,000 events, in the store"},
	} {
		ns := g.metrics[h.bench]["ns/op"]
		if ns == 0 {
			rep.add(Figure{Phase: phase, Name: h.name, Target: "< 2 ms", Verdict: "FAIL", Note: "benchmark missing from the output"})
			continue
		}
		ms := ns / 1e6
		rep.add(Figure{Phase: phase, Name: h.name, Value: ms, Unit: "ms", Target: "< 2 ms", Ratio: ms / 2, Baseline: "2 ms", Verdict: atMost(ms, 2-1e-9)})
	}
	switch {
	case !g.killPass:
		rep.add(Figure{Phase: phase, Name: "kill -9 under load: acknowledged messages kept", Target: "all, no gaps", Verdict: "FAIL", Note: "TestKill9 missing from the output"})
	default:
		v := "FAIL"
		if g.killOK {
			v = "pass"
		}
		rep.add(Figure{Phase: phase, Name: "kill -9 under load: acknowledged messages kept", Value: g.killAcked, Unit: "messages", Target: "all, no gaps", Verdict: v,
			Note: "every acknowledged message present at its seq after restart"})
	}
	if len(g.churn) != 5 || !g.churnPass {
		rep.add(Figure{Phase: phase, Name: "connection churn: back to baseline", Target: "goroutines and heap return", Verdict: "FAIL", Note: "TestConnectionChurn missing or failed"})
	} else {
		rep.add(Figure{Phase: phase, Name: "connection churn: back to baseline", Value: g.churn[0], Unit: "connections", Target: "goroutines and heap return", Verdict: "pass",
			Note: fmt.Sprintf("goroutines %.0f → %.0f, heap in use %.0f → %.0f KiB", g.churn[1], g.churn[2], g.churn[3], g.churn[4])})
	}
	return nil
}

// addSavedBench adds the figures of the saved output in file to rep.
func addSavedBench(file string, rep *Report) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	return addGoBench(f, rep)
}
