package server

import (
	"io/fs"
	"path"
	"strings"
)

// publicFiles is the browser tree to serve: all of it in the demo setup,
// else without demo/, whose pages exist to try the gateway out and have no
// place on a deployed one.
func publicFiles(files fs.FS, demo bool) fs.FS {
	if files == nil || demo {
		return files
	}
	return withoutDir{files, "demo"}
}

// withoutDir is an fs.FS in which dir and everything under it do not exist.
type withoutDir struct {
	fs.FS
	dir string
}

func (w withoutDir) Open(name string) (fs.File, error) {
	clean := path.Clean(name)
	if clean == w.dir || strings.HasPrefix(clean, w.dir+"/") {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return w.FS.Open(name)
}
