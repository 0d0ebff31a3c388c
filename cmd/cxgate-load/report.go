package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
)

// Figure is one row of the final table.
type Figure struct {
	Phase    string  `json:"phase"`
	Name     string  `json:"name"`
	Value    float64 `json:"value"`
	Unit     string  `json:"unit"`
	Target   string  `json:"target,omitempty"`   // human text, e.g. "< 5 ms"
	Ratio    float64 `json:"ratio,omitempty"`    // against the baseline or the target's bound
	Baseline string  `json:"baseline,omitempty"` // what the ratio compares with
	Verdict  string  `json:"verdict,omitempty"`  // pass, FAIL, n/a, info
	Note     string  `json:"note,omitempty"`
}

// Report is everything one run measured.
type Report struct {
	Mode     string         `json:"mode"` // in-process or the target URL
	NoSync   bool           `json:"nosync"`
	Config   map[string]any `json:"config"`
	Figures  []Figure       `json:"figures"`
	Errors   map[string]int `json:"errors"` // by kind, every phase
	Details  map[string]any `json:"details,omitempty"`
	Warnings []string       `json:"warnings,omitempty"`
}

func newReport() *Report {
	return &Report{Config: map[string]any{}, Errors: map[string]int{}, Details: map[string]any{}}
}

func (r *Report) add(f Figure) { r.Figures = append(r.Figures, f) }

func (r *Report) warn(format string, args ...any) {
	r.Warnings = append(r.Warnings, fmt.Sprintf(format, args...))
}

// Figure returns the figure of phase and name.
func (r *Report) Figure(phase, name string) (Figure, bool) {
	for _, f := range r.Figures {
		if f.Phase == phase && f.Name == name {
			return f, true
		}
	}
	return Figure{}, false
}

// TotalErrors sums every error kind.
func (r *Report) TotalErrors() int {
	n := 0
	for _, v := range r.Errors {
		n += v
	}
	return n
}

// atMost is the verdict of a figure that must stay at or under bound.
func atMost(v, bound float64) string {
	if v <= bound {
		return "pass"
	}
	return "FAIL"
}

// atLeast is the verdict of a figure that must reach bound.
func atLeast(v, bound float64) string {
	if v >= bound {
		return "pass"
	}
	return "FAIL"
}

func formatValue(v float64, unit string) string {
	switch {
	case math.IsNaN(v):
		return "n/a"
	case unit == "ms":
		return fmt.Sprintf("%.3f ms", v)
	case unit == "KiB":
		return fmt.Sprintf("%.1f KiB", v)
	case unit == "msg/s" || unit == "req/s":
		return fmt.Sprintf("%.0f %s", v, unit)
	case unit == "%":
		return fmt.Sprintf("%.1f%%", v)
	case v == math.Trunc(v):
		if unit == "" {
			return fmt.Sprintf("%.0f", v)
		}
		return fmt.Sprintf("%.0f %s", v, unit)
	}
	return strings.TrimSpace(fmt.Sprintf("%.2f %s", v, unit))
}

// WriteTable prints the table for humans.
func (r *Report) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "\ncxgate-load report (%s", r.Mode)
	if r.NoSync {
		fmt.Fprint(w, ", nosync: NOT durable")
	}
	fmt.Fprintln(w, ")")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "phase\tfigure\tmeasured\ttarget\tratio / verdict\tnote")
	for _, f := range r.Figures {
		rv := f.Verdict
		if f.Ratio != 0 {
			rv = fmt.Sprintf("%.2f", f.Ratio)
			if f.Baseline != "" {
				rv += " of " + f.Baseline
			}
			if f.Verdict != "" {
				rv += " " + f.Verdict
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", f.Phase, f.Name, formatValue(f.Value, f.Unit), f.Target, rv, f.Note)
	}
	tw.Flush()
	if len(r.Errors) > 0 {
		fmt.Fprint(w, "errors:")
		for _, k := range sortedKeys(r.Errors) {
			fmt.Fprintf(w, " %s=%d", k, r.Errors[k])
		}
		fmt.Fprintln(w)
	}
	for _, s := range r.Warnings {
		fmt.Fprintln(w, "warning:", s)
	}
}

// WriteJSON prints the report as one JSON document.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	// NaN is not JSON: an unmeasured value is null.
	type fig struct {
		Figure
		Value *float64 `json:"value"`
	}
	out := struct {
		*Report
		Figures []fig `json:"figures"`
	}{Report: r}
	for _, f := range r.Figures {
		g := fig{Figure: f}
		if !math.IsNaN(f.Value) {
			v := f.Value
			g.Value = &v
		}
		out.Figures = append(out.Figures, g)
	}
	return enc.Encode(out)
}

func sortedKeys(m map[string]int) []string { return slices.Sorted(maps.Keys(m)) }
