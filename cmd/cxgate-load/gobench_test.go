package main

import (
	"strings"
	"testing"
)

// savedBench is real output of make bench's Go steps, trimmed.
const savedBench = `go test -run '^$' -bench . -benchmem -benchtime 1s ./...
BenchmarkFetchHistory-2   	    3277	    363923 ns/op	         0 failed	  143141 B/op	    1173 allocs/op
BenchmarkAppend/writers=1-2  	    2438	    439210 ns/op	   0.46 MB/s	      2275 appends/s	         0 failures	         1.000 writes/commit	   21554 B/op	      76 allocs/op
BenchmarkAppend/writers=16-2 	   16238	     72983 ns/op	   2.74 MB/s	     13677 appends/s	         0 failures	         7.991 writes/commit	    6953 B/op	      26 allocs/op
BenchmarkAppend/writers=256-2         	  101835	     11892 ns/op	  16.82 MB/s	     83951 appends/s	         0 failures	       130.6 writes/commit	    3667 B/op	      19 allocs/op
BenchmarkBareGroupCommit/writers=1-2  	    2800	    426786 ns/op	   0.47 MB/s	      2342 appends/s	         0 failures	         1.000 writes/commit	   18397 B/op	      61 allocs/op
BenchmarkBareGroupCommit/writers=16-2 	   17254	     68655 ns/op	   2.91 MB/s	     14552 appends/s	         0 failures	         8.006 writes/commit	    4372 B/op	      14 allocs/op
BenchmarkBareGroupCommit/writers=256-2         	  185534	      6713 ns/op	  29.80 MB/s	    148697 appends/s	         0 failures	       130.3 writes/commit	     893 B/op	       7 allocs/op
BenchmarkHistoryPage-2                         	    4500	    238403 ns/op	         0 wrong-pages	   97566 B/op	    1120 allocs/op
=== RUN   TestKill9KeepsAcknowledgedMessages
    kill_test.go:183: 27051 messages acknowledged before SIGKILL
--- PASS: TestKill9KeepsAcknowledgedMessages (7.10s)
=== RUN   TestConnectionChurn
    churn_test.go:98: 20000 connections: goroutines 15 → 17, heap in use 2208 KiB → 2224 KiB
--- PASS: TestConnectionChurn (20.02s)
`

func TestAddGoBench(t *testing.T) {
	rep := newReport()
	if err := addGoBench(strings.NewReader(savedBench), rep); err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name    string
		value   float64
		ratio   float64
		verdict string
	}{
		{"store appends, 256 writers", 83951, 83951.0 / 148697, "pass"},
		{"store appends, 16 writers", 13677, 13677.0 / 14552, "pass"},
		{"store appends, 1 writers", 2275, 2275.0 / 2342, "pass"},
		{"history page of 100 of 1,000,000 events, through the bus", 0.363923, 0.363923 / 2, "pass"},
		{"history page of 100 of 1,000,000 events, in the store", 0.238403, 0.238403 / 2, "pass"},
		{"kill -9 under load: acknowledged messages kept", 27051, 0, "pass"},
		{"connection churn: back to baseline", 20000, 0, "pass"},
	}
	for _, w := range want {
		f, ok := rep.Figure("go test", w.name)
		if !ok {
			t.Errorf("no figure %q in %+v", w.name, rep.Figures)
			continue
		}
		if diff := f.Value - w.value; diff > 1e-9 || diff < -1e-9 || f.Verdict != w.verdict {
			t.Errorf("%s = %v (%s), want %v (%s)", w.name, f.Value, f.Verdict, w.value, w.verdict)
		}
		if diff := f.Ratio - w.ratio; diff > 1e-9 || diff < -1e-9 {
			t.Errorf("%s ratio = %v, want %v", w.name, f.Ratio, w.ratio)
		}
	}
	if f, _ := rep.Figure("go test", "connection churn: back to baseline"); !strings.Contains(f.Note, "goroutines 15 → 17, heap in use 2208 → 2224 KiB") {
		t.Errorf("churn note %q", f.Note)
	}

	// A target whose run is missing, or failed, is a failure, never a pass.
	rep = newReport()
	failed := strings.Replace(savedBench, "--- PASS: TestKill9", "--- FAIL: TestKill9", 1)
	failed = strings.Replace(failed, "BenchmarkHistoryPage-2", "BenchmarkOther-2", 1)
	if err := addGoBench(strings.NewReader(failed), rep); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"kill -9 under load: acknowledged messages kept", "history page of 100 of 1,000,000 events, in the store"} {
		if f, _ := rep.Figure("go test", name); f.Verdict != "FAIL" {
			t.Errorf("%s: verdict %q, want FAIL", name, f.Verdict)
		}
	}
	rep = newReport()
	if err := addGoBench(strings.NewReader("PASS\n"), rep); err != nil {
		t.Fatal(err)
	}
	for _, f := range rep.Figures {
		if f.Verdict != "FAIL" {
			t.Errorf("%s from empty output: verdict %q, want FAIL", f.Name, f.Verdict)
		}
	}
}
