package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/cxgate/cxgate/config"
)

func TestRetention(t *testing.T) {
	withRetention := func(r string) string {
		return strings.Replace(valid, `    origins: ["https://shop.example"]`, `    origins: ["https://shop.example"]`+"\n    retention: "+r, 1)
	}
	for _, tc := range []struct {
		yml          string
		chats, files time.Duration
		err          string
	}{
		{yml: `{chats: 365d, files: 90d}`, chats: 365 * 24 * time.Hour, files: 90 * 24 * time.Hour},
		{yml: `{chats: 36h}`, chats: 36 * time.Hour},
		{yml: `{files: 1m30s}`, files: 90 * time.Second},
		{yml: `{chats: 0d}`},
		{yml: `{chats: 365}`, err: `"365" is not a period like 365d or 36h`},
		{yml: `{chats: 1.5d}`, err: "not a number of days"},
		{yml: `{chats: -1d}`, err: "not a number of days"},
		{yml: `{files: -5h}`, err: "deployments[0].retention.files (line 7): must be positive"},
		{yml: `{chats: [1]}`, err: "a period is a string"},
		{yml: `{messages: 30d}`, err: `retention.messages (line 7): unknown key "messages"`},
	} {
		t.Run(tc.yml, func(t *testing.T) {
			c, err := config.Parse(strings.NewReader(withRetention(tc.yml)))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			r := c.Deployments[0].Retention
			if r.Chats.Duration() != tc.chats || r.Files.Duration() != tc.files {
				t.Errorf("retention = %v/%v, want %v/%v", r.Chats, r.Files, tc.chats, tc.files)
			}
		})
	}
	for p, want := range map[config.Period]string{
		config.Period(365 * 24 * time.Hour): "365d", config.Period(36 * time.Hour): "36h0m0s", 0: "0s",
	} {
		if got := p.String(); got != want {
			t.Errorf("%v.String() = %q, want %q", time.Duration(p), got, want)
		}
	}
	if c := mustParse(t, valid); !c.Deployments[0].Retention.IsZero() {
		t.Errorf("absent retention = %+v, want zero (keep forever)", c.Deployments[0].Retention)
	}
}
