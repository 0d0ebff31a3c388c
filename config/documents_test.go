package config_test

import (
	"strings"
	"testing"

	"github.com/cxgate/cxgate/config"
)

// TestParse_OneDocument: keys after a "---" would be ignored unchecked, so a
// second document is a startup error; a lone leading "---" is fine.
func TestParse_OneDocument(t *testing.T) {
	if _, err := config.Parse(strings.NewReader("---\n" + valid)); err != nil {
		t.Errorf("a file that starts with ---: %v", err)
	}
	if _, err := config.Parse(strings.NewReader(valid + "---\n")); err != nil {
		t.Errorf("a file that ends with ---: %v", err)
	}
	_, err := config.Parse(strings.NewReader(valid + "---\nadress: 127.0.0.1:9090\n"))
	if err == nil {
		t.Fatal("a second document was accepted")
	}
	for _, want := range []string{"second YAML document", "line 16"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}
