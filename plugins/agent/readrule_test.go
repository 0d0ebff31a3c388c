package agent_test

import (
	"bytes"
	"io"
	"mime/multipart"
	"net/http"
	"testing"

	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/internal/wiretest"
	"github.com/cxgate/cxgate/server/servertest"
)

// TestReadRuleOfWaitingChats: what an agent may read of a chat is one rule
// for every AgentService read. A chat waiting in a queue whose skills Ann
// lacks is hidden from her listChats and refused by acceptChat, and so are
// its transcript, its history and its files; Bob, who has the skills, reads
// them; Sue, a supervisor without them, reads them too (the stated
// exception). Once Bob holds the chat Ann still reads nothing of it.
func TestReadRuleOfWaitingChats(t *testing.T) {
	cfg := config.Demo()
	cfg.Limits.RatePerIP, cfg.Limits.RatePerToken = -1, -1
	cfg.Queues = append(cfg.Queues, config.Queue{Name: "billing", Skills: []string{"billing"}, ManualAccept: true})
	cfg.Deployments = append(cfg.Deployments, config.Deployment{Key: "pay", Mode: config.ModeLive, Queue: "billing",
		Origins: []string{"*"}, Files: config.Files{Enabled: true}})
	cfg.Agents = []config.Agent{
		{ID: "ann", Name: "Ann", Token: "ann-secret", MaxChats: 5},
		{ID: "bob", Name: "Bob", Token: "bob-secret-1", Skills: []string{"billing"}, MaxChats: 5},
		{ID: "sue", Name: "Sue", Token: "sue-secret-1", MaxChats: 5, Supervisor: true},
	}
	gw := servertest.Start(t, servertest.Options{Config: &cfg})
	agents := map[string]*wiretest.HTTP{}
	for _, a := range cfg.Agents {
		agents[a.ID] = wiretest.NewHTTP(t, gw.URL).WithToken(a.Token)
		agents[a.ID].Command("AgentService.setStatus", map[string]string{"status": "online"}).Resolved(t)
	}

	guest := wiretest.NewHTTP(t, gw.URL).WithDeployment("pay")
	var st struct {
		ChatID string `json:"chatId"`
		Token  string `json:"token"`
	}
	guest.Command("WebChatService.startChat", map[string]any{"nickname": "Vic"}).Into(t, &st)
	visitor := guest.WithToken(st.Token)
	visitor.Command("WebChatService.sendMessage", map[string]string{"message": "my IBAN is DE89 3704 0044 0532 0130 00"}).Resolved(t)
	fileID := uploadText(t, gw.URL, st.Token, "statement.txt", "account statement")

	listed := func(who string) bool {
		var l struct {
			Queued []struct {
				ChatID string `json:"chatId"`
			} `json:"queued"`
		}
		agents[who].Command("AgentService.listChats", nil).Into(t, &l)
		for _, c := range l.Queued {
			if c.ChatID == st.ChatID {
				return true
			}
		}
		return false
	}
	reads := func(who string) map[string]bool {
		a := agents[who]
		got := map[string]bool{
			"getTranscript": a.Command("AgentService.getTranscript", map[string]string{"chatId": st.ChatID}).Status == "resolved",
			"getHistory":    a.Command("AgentService.getHistory", map[string]string{"chatId": st.ChatID}).Status == "resolved",
			"downloadFile":  a.Command("AgentService.downloadFile", map[string]string{"fileId": fileID}).Status == "resolved",
		}
		req, err := http.NewRequest(http.MethodGet, gw.URL+"/v1/files/"+fileID, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+agentToken(cfg, who))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		got["GET /v1/files"] = resp.StatusCode == http.StatusOK
		return got
	}
	check := func(stage, who string, want bool) {
		t.Helper()
		for what, ok := range reads(who) {
			if ok != want {
				t.Errorf("%s: %s %s: read %v, want %v", stage, who, what, ok, want)
			}
		}
	}

	if listed("ann") || !listed("bob") {
		t.Fatalf("listChats: ann sees the billing chat %v, bob %v", listed("ann"), listed("bob"))
	}
	if r := agents["ann"].Command("AgentService.acceptChat", map[string]string{"chatId": st.ChatID}); r.Status != "rejected" || r.Error.Code != "not_eligible" {
		t.Fatalf("ann acceptChat: HTTP %d %s", r.HTTPStatus, r.Body)
	}
	check("waiting", "ann", false)
	check("waiting", "bob", true)
	check("waiting", "sue", true)

	agents["bob"].Command("AgentService.acceptChat", map[string]string{"chatId": st.ChatID}).Resolved(t)
	check("held by bob", "ann", false)
	check("held by bob", "bob", true)
	check("held by bob", "sue", true)
}

func agentToken(cfg config.Config, id string) string {
	for _, a := range cfg.Agents {
		if a.ID == id {
			return a.Token
		}
	}
	return ""
}

// uploadText uploads a text file as the visitor and returns its id.
func uploadText(t *testing.T, baseURL, token, name, text string) string {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	part, err := w.CreateFormFile("file", name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(part, text); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, baseURL+"/v1/files", &buf)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", w.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+token)
	var up struct {
		FileID string `json:"fileId"`
	}
	wiretest.NewHTTP(t, baseURL).Do(req).Into(t, &up)
	if up.FileID == "" {
		t.Fatal("upload: no fileId")
	}
	return up.FileID
}
