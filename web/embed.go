package web

import (
	"embed"
	"io/fs"
)

// Static holds the browser files under static/.
//
//go:embed static
var Static embed.FS

// Files returns the static tree rooted at static/, ready to be served at the
// site root (widgets/cxbus.js, demo/index.html, ...).
func Files() fs.FS {
	sub, err := fs.Sub(Static, "static")
	if err != nil {
		// fs.Sub only fails on an invalid path; "static" is a constant.
		panic(err)
	}
	return sub
}
