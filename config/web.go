package config

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
)

// Web is how the gateway meets the web in front of it: its public address,
// the proxies it believes, who may frame its pages, and where /metrics is
// served. Its keys are top-level keys of the file.
type Web struct {
	// PublicURL is the origin browsers reach the gateway at
	// ("https://chat.example"). When set, public URLs (guest chat's
	// eventStreamUri) and the origin of the gateway's own pages come from it
	// instead of the request's Host and X-Forwarded-* headers.
	PublicURL string `yaml:"publicURL"`
	// TrustedProxies are the addresses or CIDRs of the reverse proxies in
	// front of the gateway: only a request from one of them has its
	// X-Forwarded-For, X-Forwarded-Host and X-Forwarded-Proto believed.
	TrustedProxies []string `yaml:"trustedProxies"`
	// FrameAncestors are the origins allowed to frame the gateway's pages
	// (the agent console) besides the gateway itself: the sources of the
	// Content-Security-Policy's frame-ancestors.
	FrameAncestors []string `yaml:"frameAncestors"`
	// MetricsAddr serves /metrics on a listener of its own at this address;
	// the main listener then answers 404 there. Empty: /metrics is on the
	// main listener.
	MetricsAddr string `yaml:"metricsAddr"`
	// Demo is set by Demo(), never by a file: the demo pages under /demo/
	// are served only then.
	Demo bool `yaml:"-"`
}

func (w Web) validate() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if w.PublicURL != "" && !validOrigin(w.PublicURL) {
		bad("publicURL: %q is not an origin like https://chat.example (no path, query or user)", w.PublicURL)
	}
	for i, p := range w.TrustedProxies {
		if _, err := netip.ParseAddr(p); err == nil {
			continue
		}
		if _, err := netip.ParsePrefix(p); err != nil {
			bad("trustedProxies[%d]: %q is not an IP address or a CIDR like 10.0.0.0/8", i, p)
		}
	}
	for i, a := range w.FrameAncestors {
		if !validFrameAncestor(a) {
			bad("frameAncestors[%d]: %q is not an origin like https://intranet.example or https://*.example.com", i, a)
		}
	}
	if w.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(w.MetricsAddr); err != nil {
			bad("metricsAddr: %q is not a listen address like 127.0.0.1:9090: %v", w.MetricsAddr, err)
		}
	}
	return errs
}

// validFrameAncestor accepts an http(s) origin whose host may start with a
// "*." wildcard: a CSP source that cannot smuggle another directive.
func validFrameAncestor(a string) bool {
	if strings.ContainsAny(a, " ;,'\"\t\r\n") {
		return false
	}
	scheme, rest, ok := strings.Cut(a, "://")
	if !ok {
		return false
	}
	rest = strings.TrimPrefix(rest, "*.")
	return validOrigin(scheme+"://"+rest) && !strings.Contains(rest, "*")
}

// PublicOrigin is PublicURL without a trailing slash, or "" when unset.
func (w Web) PublicOrigin() string {
	if w.PublicURL == "" {
		return ""
	}
	u, err := url.Parse(w.PublicURL)
	if err != nil {
		return ""
	}
	return strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Host)
}
