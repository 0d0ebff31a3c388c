package web_test

import (
	"io/fs"
	"regexp"
	"strings"
	"testing"

	"github.com/cxgate/cxgate/web"
)

// TestStatic_NoInlineScript: the pages run under script-src 'self', so no
// served page may carry an inline script, an inline event handler or a
// javascript: URL; nor an inline style, under style-src 'self'.
func TestStatic_NoInlineScript(t *testing.T) {
	inlineScript := regexp.MustCompile(`(?is)<script\b([^>]*)>\s*([^<\s])`)
	handler := regexp.MustCompile(`(?i)<[^>]*\son[a-z]+\s*=`)
	style := regexp.MustCompile(`(?i)<style\b|<[^>]*\sstyle\s*=`)
	pages := 0
	err := fs.WalkDir(web.Files(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".html") {
			return err
		}
		pages++
		b, err := fs.ReadFile(web.Files(), path)
		if err != nil {
			return err
		}
		html := string(b)
		if m := inlineScript.FindStringSubmatch(html); m != nil {
			t.Errorf("%s: an inline script: <script%s>%s…", path, m[1], m[2])
		}
		if m := handler.FindString(html); m != "" {
			t.Errorf("%s: an inline event handler: %s", path, m)
		}
		if strings.Contains(strings.ToLower(html), "javascript:") {
			t.Errorf("%s: a javascript: URL", path)
		}
		if m := style.FindString(html); m != "" {
			t.Errorf("%s: an inline style: %s", path, m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if pages < 4 {
		t.Errorf("found %d pages, want the console and the demos", pages)
	}
}
