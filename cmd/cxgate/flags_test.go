package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
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
		{"ImportWithoutFile", []string{"--import-config"}, "--import-config needs a --config file"},
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

// TestRun_HelpAndVersion: -h prints the usage on stdout and succeeds (main
// exits 0 on flag.ErrHelp); --version prints the version.
func TestRun_HelpAndVersion(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"--help"}} {
		var stdout, stderr bytes.Buffer
		err := run(args, &stdout, &stderr)
		if err != nil && !errors.Is(err, flag.ErrHelp) {
			t.Errorf("run(%q) = %v, want success", args, err)
		}
		if !strings.Contains(stdout.String(), "Usage: cxgate") || !strings.Contains(stdout.String(), "-config") || stderr.Len() != 0 {
			t.Errorf("run(%q) printed stdout %q, stderr %q; want the usage on stdout", args, stdout.String(), stderr.String())
		}
	}
	var stdout bytes.Buffer
	if err := run([]string{"--version"}, &stdout, io.Discard); err != nil || !strings.HasPrefix(stdout.String(), "cxgate ") {
		t.Errorf("--version: %v, %q", err, stdout.String())
	}
}

// TestBinary_HelpExitsZero runs the real binary: -h is a success.
func TestBinary_HelpExitsZero(t *testing.T) {
	bin := buildBinary(t)
	out, err := exec.Command(bin, "-h").Output()
	if err != nil || !strings.Contains(string(out), "Usage: cxgate") {
		t.Fatalf("cxgate -h: %v, stdout %q", err, out)
	}
	out, err = exec.Command(bin, "--version").Output()
	if err != nil || !strings.HasPrefix(string(out), "cxgate ") {
		t.Fatalf("cxgate --version: %v, stdout %q", err, out)
	}
}

// TestRun_PortInUse: a port already taken fails before the data directory
// is created.
func TestRun_PortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	data := filepath.Join(t.TempDir(), "data")
	err = run([]string{"--addr", ln.Addr().String(), "--data", data}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "listen") {
		t.Fatalf("run on a taken port = %v, want a listen error", err)
	}
	if _, err := os.Stat(data); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the data directory was created (%v) though the port was taken", err)
	}
}

// TestBinary_LogJSON: with --log json, stdout stays empty and every line on
// stderr is a JSON record, the demo setup's included.
func TestBinary_LogJSON(t *testing.T) {
	bin := buildBinary(t)
	cmd := exec.Command(bin, "--log", "json", "--addr", "127.0.0.1:0", "--data", filepath.Join(t.TempDir(), "data"))
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	sc := bufio.NewScanner(stderr)
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if strings.Contains(sc.Text(), `"msg":"demo setup"`) {
			break
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("cxgate --log json: %v", err)
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout with --log json: %q", stdout.String())
	}
	if len(lines) < 2 {
		t.Fatalf("stderr: %q", lines)
	}
	for _, l := range lines {
		if !json.Valid([]byte(l)) {
			t.Errorf("not a JSON record: %q", l)
		}
	}
}
