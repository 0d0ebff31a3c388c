package main

import (
	"slices"
	"sync"
	"time"
)

// recorder keeps every latency sample of one figure. A sorted slice of all
// samples gives exact percentiles (better than HdrHistogram's buckets) at the
// rates a 2-core machine reaches.
type recorder struct {
	mu      sync.Mutex
	samples []time.Duration
	mark    int // start of the current progress window
}

func (r *recorder) add(d time.Duration) {
	r.mu.Lock()
	r.samples = append(r.samples, d)
	r.mu.Unlock()
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.samples)
}

// window returns the samples since the previous call, sorted.
func (r *recorder) window() []time.Duration {
	r.mu.Lock()
	w := slices.Clone(r.samples[r.mark:])
	r.mark = len(r.samples)
	r.mu.Unlock()
	slices.Sort(w)
	return w
}

// sorted returns every sample, sorted.
func (r *recorder) sorted() []time.Duration {
	r.mu.Lock()
	all := slices.Clone(r.samples)
	r.mu.Unlock()
	slices.Sort(all)
	return all
}

// quantile returns the q-quantile (0..1) of sorted samples by the
// nearest-rank method; 0 when there are none.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(q*float64(len(sorted))+0.999999999) - 1
	rank = max(0, min(rank, len(sorted)-1))
	return sorted[rank]
}

// summary is a latency distribution.
type summary struct {
	N    int     `json:"n"`
	P50  float64 `json:"p50_ms"`
	P99  float64 `json:"p99_ms"`
	P999 float64 `json:"p999_ms"`
	Max  float64 `json:"max_ms"`
}

func summarize(sorted []time.Duration) summary {
	s := summary{N: len(sorted)}
	if len(sorted) == 0 {
		return s
	}
	s.P50 = ms(quantile(sorted, 0.50))
	s.P99 = ms(quantile(sorted, 0.99))
	s.P999 = ms(quantile(sorted, 0.999))
	s.Max = ms(sorted[len(sorted)-1])
	return s
}

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }
