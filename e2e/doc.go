// Package e2e holds cxgate's browser tests: a real gateway (servertest), a
// headless Chromium driven by chromedp, pages on another origin that load
// /widgets/cxbus.js, and agents speaking the native wire over WebSockets.
//
// The tests skip when no Chromium is installed, except with CI=true, where a
// missing browser fails them. CHROMIUM names the browser binary when it is
// not on the usual paths.
package e2e
