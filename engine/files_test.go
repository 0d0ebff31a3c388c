package engine_test

import (
	"testing"

	"github.com/cxgate/cxgate/engine"
)

// TestFileNameForType: a download's name ends in an extension of the type
// detected from its content, whatever the client called it.
func TestFileNameForType(t *testing.T) {
	for _, tc := range []struct{ name, typ, want string }{
		{"update.hta", "text/plain", "update.txt"},
		{"invoice.pdf.bat", "application/pdf", "invoice.pdf"},
		{"invoice.pdf.bat", "text/plain", "invoice.pdf.txt"},
		{"setup.js", "text/plain", "setup.txt"},
		{"x.ps1", "text/plain", "x.txt"},
		{"report.html", "text/plain", "report.txt"},
		{"report.HTML", "text/plain", "report.txt"},
		{"invoice.bat. ", "text/plain", "invoice.txt"},
		{"invoice.pdf .bat", "application/pdf", "invoice.pdf"},
		{"notes", "text/plain", "notes.txt"},
		{"notes.txt", "text/plain", "notes.txt"},
		{"Photo.JPG", "image/jpeg", "Photo.JPG"},
		{"photo.jpeg", "image/jpeg", "photo.jpeg"},
		{"photo.png", "image/jpeg", "photo.jpg"},
		{".htaccess", "text/plain", "file.txt"},
		{"page.txt", "text/html", "page.html"},
		{"blob.exe", "application/octet-stream", "blob.bin"},
		{"thing.exe", "type/unknown", "thing.bin"},
		{`<img src=x onerror=alert(1)>"; a.png`, "image/png", `<img src=x onerror=alert(1)>"; a.png`},
	} {
		if got := engine.FileNameForType(tc.name, tc.typ); got != tc.want {
			t.Errorf("FileNameForType(%q, %s) = %q, want %q", tc.name, tc.typ, got, tc.want)
		}
	}
	long := make([]byte, 255)
	for i := range long {
		long[i] = 'a'
	}
	long[250] = '.'
	if got := engine.FileNameForType(string(long), "text/plain"); len(got) > 255 || got[len(got)-4:] != ".txt" {
		t.Errorf("a 255-byte name: %d bytes %q", len(got), got[len(got)-8:])
	}
}
