package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Retention is how long a deployment keeps what its visitors leave:
//
//	retention: {chats: 365d, files: 90d}
//
// An absent or zero period keeps forever. A background sweep deletes ended
// chats (and asynchronous conversations, counted from their last event)
// older than Chats, with their events, files and tokens; and the content of
// files older than Files (their FileUploaded events stay, and a download
// answers file_expired).
type Retention struct {
	Chats Period `yaml:"chats,omitempty"`
	Files Period `yaml:"files,omitempty"`
}

// IsZero reports whether r keeps everything forever (and omits it when a
// deployment is written out).
func (r Retention) IsZero() bool { return r.Chats == 0 && r.Files == 0 }

// Period is a retention period: a whole number of days ("365d") or a Go
// duration ("36h", "90m"). Days are 24 hours.
type Period time.Duration

// ParsePeriod reads "365d" or a Go duration.
func ParsePeriod(s string) (Period, error) {
	s = strings.TrimSpace(s)
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.ParseUint(n, 10, 32)
		if err != nil || days > 100*366 {
			return 0, fmt.Errorf("%q is not a number of days like 365d (at most 36600)", s)
		}
		return Period(time.Duration(days) * 24 * time.Hour), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a period like 365d or 36h", s)
	}
	return Period(d), nil
}

// Duration is p as a time.Duration.
func (p Period) Duration() time.Duration { return time.Duration(p) }

// String writes whole days as "Nd", anything else as a Go duration.
func (p Period) String() string {
	d := time.Duration(p)
	if d > 0 && d%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	}
	return d.String()
}

// IsZero reports whether p keeps forever.
func (p Period) IsZero() bool { return p == 0 }

// UnmarshalYAML reads a period from a string.
func (p *Period) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: a period is a string like 365d or 36h", n.Line)
	}
	v, err := ParsePeriod(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*p = v
	return nil
}

// MarshalYAML writes p as its String.
func (p Period) MarshalYAML() (any, error) { return p.String(), nil }

// validate checks a deployment's retention at key at.
func (r Retention) validate(at string, bad func(format string, args ...any)) {
	for name, p := range map[string]Period{"chats": r.Chats, "files": r.Files} {
		if p < 0 {
			bad("%s.retention.%s: must be positive", at, name)
		}
	}
}
