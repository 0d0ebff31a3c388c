package ratelimit

import (
	"sync"
	"time"
)

// Limiter counts events per key in fixed windows: at most Max per Window.
// The zero value is not usable; use New. A nil *Limiter allows everything.
type Limiter struct {
	max    int
	window time.Duration
	now    func() time.Time

	mu        sync.Mutex
	counts    map[string]*count
	lastSweep time.Time
}

type count struct {
	start time.Time // the window's start
	n     int
}

// New returns a limiter of max events per window and key; max ≤ 0 returns
// nil, which allows everything.
func New(max int, window time.Duration) *Limiter {
	if max <= 0 {
		return nil
	}
	return &Limiter{max: max, window: window, now: time.Now, counts: map[string]*count{}}
}

// Max is the budget of a key per window; 0 for a nil limiter.
func (l *Limiter) Max() int {
	if l == nil {
		return 0
	}
	return l.max
}

// Allow spends one event of key's budget. When the budget of the current
// window is spent it returns false and the time until the next window.
func (l *Limiter) Allow(key string) (ok bool, retryAfter time.Duration) {
	return l.AllowN(key, 1)
}

// AllowN spends n of key's budget (a weighed event: bytes). An event that
// alone outweighs the whole budget passes only as the first of a window,
// so a budget smaller than the largest event still lets it through, once.
func (l *Limiter) AllowN(key string, n int) (ok bool, retryAfter time.Duration) {
	if l == nil {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	c := l.counts[key]
	if c == nil || now.Sub(c.start) >= l.window {
		if c == nil {
			c = &count{}
			l.counts[key] = c
		}
		c.start, c.n = now, 0
	}
	if c.n > 0 && c.n+n > l.max {
		return false, c.start.Add(l.window).Sub(now)
	}
	c.n += n
	return true, 0
}

// sweep forgets the keys whose window ended, at most once a window, so the
// map holds only keys active in the last two windows: its size is bounded
// by the rate of new keys, without a goroutine to own.
func (l *Limiter) sweep(now time.Time) {
	if now.Sub(l.lastSweep) < l.window {
		return
	}
	l.lastSweep = now
	for k, c := range l.counts {
		if now.Sub(c.start) >= l.window {
			delete(l.counts, k)
		}
	}
}

// IPKey and TokenKey are the keys of a client IP's and a token's budgets
// under prefix (the routes' root: "/v1", a legacy wire's prefix): an HTTP
// request and a socket command of the same client spend the same budget.
func IPKey(prefix, ip string) string { return prefix + "|ip:" + ip }

// TokenKey: see IPKey. key is the token as the request carries it (the
// Authorization header's value for HTTP).
func TokenKey(prefix, key string) string { return prefix + "|tok:" + key }
