package netguard_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"

	"github.com/cxgate/cxgate/internal/netguard"
)

func TestBlocked(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1": true, "127.9.9.9": true, "::1": true, "0.0.0.0": true, "::": true,
		"10.1.2.3": true, "172.16.0.1": true, "172.31.255.255": true, "192.168.1.1": true,
		"169.254.169.254": true, "fe80::1": true, "fd00::1": true, "fc00::1": true,
		"100.64.0.1": true, "198.18.0.1": true, "255.255.255.255": true, "224.0.0.1": true, "ff02::1": true,
		"::ffff:127.0.0.1": true, "::ffff:10.0.0.1": true, "64:ff9b::a9fe:a9fe": true, "64:ff9b::7f00:1": true,
		"8.8.8.8": false, "1.1.1.1": false, "172.32.0.1": false, "2606:4700:4700::1111": false,
		"::ffff:8.8.8.8": false, "64:ff9b::808:808": false, "100.128.0.1": false,
	} {
		if got := netguard.Blocked(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Blocked(%s) = %v, want %v", addr, got, want)
		}
	}
}

func TestLiteralHost(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost": true, "LOCALHOST.": true, "api.localhost": true, "127.0.0.1": true, "::1": true,
		"fe80::1%eth0": true, "10.0.0.8": true, "hooks.example.com": false, "8.8.8.8": false,
		"localhost.example.com": false,
	} {
		if got := netguard.LiteralHost(host); got != want {
			t.Errorf("LiteralHost(%q) = %v, want %v", host, got, want)
		}
	}
}

// TestControl: a dialer with Control cannot reach a listener on loopback,
// by address or by a name that resolves there.
func TestControl(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	d := net.Dialer{Control: netguard.Control}
	for _, addr := range []string{ln.Addr().String(), net.JoinHostPort("localhost", port)} {
		c, err := d.DialContext(context.Background(), "tcp", addr)
		if err == nil {
			c.Close()
			t.Fatalf("dial %s: connected", addr)
		}
		if !errors.Is(err, netguard.ErrBlocked) {
			t.Errorf("dial %s: %v, want ErrBlocked", addr, err)
		}
	}
}
