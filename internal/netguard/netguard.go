package netguard

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"syscall"
)

// ErrBlocked refuses a connection to a non-public address.
var ErrBlocked = errors.New("netguard: the destination is a loopback, private or link-local address")

// nonPublic are the ranges Blocked refuses besides what netip classifies
// (loopback, private, link-local, multicast, unspecified).
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),      // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),  // carrier-grade NAT: internal to a provider
	netip.MustParsePrefix("192.0.0.0/24"),   // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"),  // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),    // reserved, and the broadcast address
	netip.MustParsePrefix("fec0::/10"),      // deprecated site-local
	netip.MustParsePrefix("64:ff9b:1::/48"), // local-use NAT64
}

// Blocked reports whether addr is not a public unicast address: loopback,
// private (RFC 1918, fc00::/7), link-local (169.254/16, fe80::/10, where
// cloud metadata services answer), unspecified, multicast, or one of the
// other ranges that do not route on the internet. An IPv4 address mapped
// into IPv6 or NAT64's well-known prefix is judged as the IPv4 it carries.
func Blocked(addr netip.Addr) bool {
	addr = addr.Unmap()
	if addr.Is6() {
		if nat64 := netip.MustParsePrefix("64:ff9b::/96"); nat64.Contains(addr) {
			b := addr.As16()
			return Blocked(netip.AddrFrom4([4]byte(b[12:])))
		}
	}
	if !addr.IsValid() || !addr.IsGlobalUnicast() || addr.IsPrivate() || addr.IsLoopback() ||
		addr.IsLinkLocalUnicast() || addr.IsInterfaceLocalMulticast() {
		return true
	}
	for _, p := range nonPublic {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// Control is a net.Dialer Control function that refuses, with ErrBlocked,
// a connection to a Blocked address: it runs on the resolved address of
// each attempt, just before connecting.
func Control(network, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return ErrBlocked
	}
	addr, err := netip.ParseAddr(host)
	if err != nil || Blocked(addr) {
		return ErrBlocked
	}
	return nil
}

// LiteralHost reports whether a URL's host (as url.URL.Hostname gives it)
// names a Blocked address without resolving anything: an IP literal that
// is Blocked, or localhost and its subdomains, which resolve to loopback.
// Other names are judged when connecting (Control).
func LiteralHost(host string) bool {
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	if i := strings.IndexByte(h, '%'); i >= 0 { // an IPv6 zone
		h = h[:i]
	}
	addr, err := netip.ParseAddr(h)
	return err == nil && Blocked(addr)
}
