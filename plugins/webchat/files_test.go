package webchat_test

import (
	"testing"

	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/internal/wiretest"
	"github.com/cxgate/cxgate/server/servertest"
)

// TestFiles_Policy: what a page learns from getFileLimits, and sendFile on a
// deployment without files, over /v1/command.
func TestFiles_Policy(t *testing.T) {
	cfg := config.Demo()
	cfg.Limits.RatePerIP, cfg.Limits.RatePerToken = -1, -1
	cfg.Deployments[1].Files = config.Files{Enabled: false}
	cfg.Limits.MessageChars = 500
	gw := servertest.Start(t, servertest.Options{Config: &cfg})

	type limits struct {
		Enabled    bool     `json:"enabled"`
		MaxBytes   int64    `json:"maxBytes"`
		MaxUploads int      `json:"maxUploads"`
		Types      []string `json:"types"`
		Uploads    int      `json:"uploads"`
		// The longest message text, for the window's maxlength.
		MessageChars int `json:"messageChars"`
	}
	var on limits
	wiretest.NewHTTP(t, gw.URL).WithDeployment("demo").Command("WebChatService.getFileLimits", nil).Into(t, &on)
	if !on.Enabled || on.MaxBytes != 10<<20 || on.MaxUploads != 10 || len(on.Types) != 4 || on.Uploads != 0 || on.MessageChars != cfg.Limits.MessageChars {
		t.Errorf("demo's limits %+v, want the defaults", on)
	}

	async := wiretest.NewHTTP(t, gw.URL).WithDeployment("demo-async")
	var off limits
	async.Command("WebChatService.getFileLimits", nil).Into(t, &off)
	if off.Enabled || off.MaxBytes != 0 || off.MessageChars != cfg.Limits.MessageChars {
		t.Errorf("demo-async's limits %+v, want disabled", off)
	}
	var st struct{ Token string }
	async.Command("WebChatService.startChat", map[string]any{"nickname": "Rita"}).Into(t, &st)
	r := async.WithToken(st.Token).Command("WebChatService.sendFile", nil)
	if e := r.Rejected(t); r.HTTPStatus != 501 || e.Code != "files_unsupported" || e.Message != textNoFileUploads {
		t.Errorf("sendFile without files: HTTP %d %+v, want 501 files_unsupported %q", r.HTTPStatus, e, textNoFileUploads)
	}
}
