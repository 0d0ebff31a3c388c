package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

// TestRun_BadFlags: flag values that cannot work stop the gateway before it
// opens a store or a port, with a message naming the flag.
func TestRun_BadFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"LogFormat", []string{"--log", "xml"}, `--log: "xml" is not text or json`},
		{"StrayArgument", []string{"--addr", "127.0.0.1:0", "demo.yaml"}, `unexpected argument "demo.yaml"`},
		{"DemoOnEveryInterface", []string{"--addr", ":0"}, "--addr :0: the demo setup listens on loopback only"},
		{"DemoOnAnyIPv4", []string{"--addr", "0.0.0.0:0"}, "loopback only"},
		{"DemoOnAnyIPv6", []string{"--addr", "[::]:0"}, "loopback only"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := filepath.Join(t.TempDir(), "data")
			var stdout, stderr bytes.Buffer
			err := run(append(tc.args, "--data", data), &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("run(%q) = %v, want an error with %q", tc.args, err, tc.want)
			}
			if stdout.Len() != 0 {
				t.Errorf("run(%q) printed %q before failing", tc.args, stdout.String())
			}
		})
	}
}

func TestLoopbackHost(t *testing.T) {
	for host, want := range map[string]bool{
		"127.0.0.1": true, "127.0.0.2": true, "::1": true, "localhost": true,
		"": false, "0.0.0.0": false, "::": false, "192.168.1.10": false, "example.com": false,
	} {
		if got := loopbackHost(host); got != want {
			t.Errorf("loopbackHost(%q) = %v, want %v", host, got, want)
		}
	}
}
