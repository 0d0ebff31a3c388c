package webchat_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/internal/wiretest"
	"github.com/cxgate/cxgate/server/servertest"
)

// lockedBuffer is a log sink the gateway's goroutines may write while the
// test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// withUnsignedUUID is the demo setup with every deployment taking unsigned
// uuids: what the tests of company identities without a jwt need.
func withUnsignedUUID() *config.Config {
	cfg := config.Demo()
	cfg.Limits.RatePerIP, cfg.Limits.RatePerToken = -1, -1
	for i := range cfg.Deployments {
		cfg.Deployments[i].Identity = config.IdentityUnsignedUUID
	}
	return &cfg
}

// TestAnonymousDeploymentTakesNoUUID: on an anonymous deployment a page
// cannot name an identity. A startChat with the uuid of a customer whose
// conversation is open (here on a deployment that opted into unsigned
// uuids) is refused with identity_not_allowed and reaches nothing, as is a
// jwt and a uuid given mid-chat with identify; profile fields still pass.
// The opt-in deployment works as before and is named in a warning at start.
// The legacy wires carry no identity: a uuid in GMS userData or in guest
// chat customFields is only userData.
func TestAnonymousDeploymentTakesNoUUID(t *testing.T) {
	cfg := config.Demo()
	cfg.Deployments = append(cfg.Deployments, config.Deployment{Key: "crm-open", Mode: config.ModeAsync, Queue: "support",
		Origins: []string{"*"}, Identity: config.IdentityUnsignedUUID})
	cfg.Limits.RatePerIP, cfg.Limits.RatePerToken = -1, -1
	var logs lockedBuffer
	gw := servertest.Start(t, servertest.Options{Config: &cfg, Logger: slog.New(slog.NewTextHandler(&logs, nil))})

	warned := logs.String()
	if !strings.Contains(warned, "level=WARN") || !strings.Contains(warned, "deployment=crm-open") || !strings.Contains(warned, "unsigned") {
		t.Errorf("no warning at start for the unsigned-uuid deployment; logs:\n%s", warned)
	}
	if strings.Contains(warned, "deployment=demo-async") || strings.Contains(warned, "deployment=demo ") {
		t.Errorf("an anonymous deployment is warned about; logs:\n%s", warned)
	}

	// The customer's conversation, on the deployment that opted in.
	crm := wiretest.NewHTTP(t, gw.URL).WithDeployment("crm-open")
	var customer startAnswer
	crm.Command("WebChatService.startChat", map[string]any{"identity": map[string]string{"uuid": "customer-59606"}}).Into(t, &customer)
	crm.WithToken(customer.Token).Command("WebChatService.sendMessage", map[string]string{"message": "my card number is"}).Resolved(t)
	var again startAnswer
	crm.Command("WebChatService.startChat", map[string]any{"identity": map[string]string{"uuid": "customer-59606"}}).Into(t, &again)
	if !again.Resumed || again.ChatID != customer.ChatID {
		t.Fatalf("unsigned-uuid deployment: the uuid's second start %+v, want %s resumed", again, customer.ChatID)
	}

	for _, key := range []string{"demo-async", "demo"} {
		guest := wiretest.NewHTTP(t, gw.URL).WithDeployment(key)
		before := countChats(t, gw)
		for name, idn := range map[string]map[string]string{
			"uuid":          {"uuid": "customer-59606"},
			"uuid and name": {"uuid": "customer-59606", "nickname": "Mallory"},
			"jwt":           {"jwt": "eyJhbGciOiJIUzI1NiJ9.e30.x"},
		} {
			r := guest.Command("WebChatService.startChat", map[string]any{"identity": idn})
			if r.Status != "rejected" || r.HTTPStatus != http.StatusForbidden || r.Error.Code != "identity_not_allowed" {
				t.Errorf("%s: startChat with identity %s: HTTP %d %s", key, name, r.HTTPStatus, r.Body)
			}
		}
		if n := countChats(t, gw); n != before {
			t.Errorf("%s: refused starts made %d chats", key, n-before)
		}
		// Profile fields are not an identity: they pass.
		var st startAnswer
		guest.Command("WebChatService.startChat", map[string]any{"identity": map[string]string{"nickname": "Lou"}}).Into(t, &st)
		if st.Resumed || st.ChatID == customer.ChatID || st.ParticipantID == customer.ParticipantID {
			t.Fatalf("%s: an anonymous start reached the customer: %+v", key, st)
		}
		r := guest.WithToken(st.Token).Command("WebChatService.identify", map[string]string{"uuid": "customer-59606"})
		if r.Status != "rejected" || r.Error.Code != "identity_not_allowed" {
			t.Errorf("%s: identify with a uuid: HTTP %d %s", key, r.HTTPStatus, r.Body)
		}
		guest.WithToken(st.Token).Command("WebChatService.identify", map[string]string{"email": "lou@example.com"}).Resolved(t)
	}

	// GMS: a uuid in userData names no identity.
	form := url.Values{"nickname": {"Mallory"}, "userData[uuid]": {"customer-59606"}, "userData[identity]": {"customer-59606"}}
	resp, err := http.PostForm(gw.URL+"/genesys/2/chat/crm-open/", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GMS requestChat: HTTP %d", resp.StatusCode)
	}
	// Guest chat: nor does a uuid in memberInfo.customFields.
	body := `{"organizationId":"o","deploymentId":"crm-open","memberInfo":{"displayName":"Mallory","customFields":{"uuid":"customer-59606","identity":"customer-59606"}}}`
	resp, err = http.Post(gw.URL+"/api/v2/webchat/guest/conversations", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("guest chat create: HTTP %d", resp.StatusCode)
	}
	chats, err := gw.Store().ChatsOfIdentity(context.Background(), customer.ParticipantID)
	if err != nil {
		t.Fatal(err)
	}
	if len(chats) != 1 {
		t.Errorf("the customer's identity holds %d chats after GMS and guest chat starts with its uuid in userData, want 1", len(chats))
	}
}

// TestSignedIdentityClaims: a signed identity must name the deployment (its
// key, or its jwtAudience) in aud, carry exp as a number, and not be issued
// in the future beyond the allowed skew of 30 seconds. A token signed for
// deployment A does not pass on deployment B with the same secret.
func TestSignedIdentityClaims(t *testing.T) {
	clk := newClock(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC))
	cfg := config.Demo()
	cfg.Limits.RatePerIP, cfg.Limits.RatePerToken = -1, -1
	cfg.Deployments = append(cfg.Deployments,
		config.Deployment{Key: "shop-a", Queue: "support", Origins: []string{"*"}, Identity: config.IdentitySigned, JWTSecret: signedSecret},
		config.Deployment{Key: "shop-b", Queue: "support", Origins: []string{"*"}, Identity: config.IdentitySigned, JWTSecret: signedSecret,
			JWTAudience: "https://shop-b.example"})
	gw := servertest.Start(t, servertest.Options{Config: &cfg, Now: clk.Now})
	now := clk.Now()
	sign := func(claims jwt.MapClaims) string {
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(signedSecret))
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	exp := now.Add(time.Hour).Unix()
	cases := []struct {
		name, deployment string
		claims           jwt.MapClaims
		want             string // "" for started
	}{
		{"aud is the key", "shop-a", jwt.MapClaims{"sub": "c1", "aud": "shop-a", "exp": exp, "iat": now.Unix()}, ""},
		{"aud list", "shop-a", jwt.MapClaims{"sub": "c1", "aud": []string{"other", "shop-a"}, "exp": exp}, ""},
		{"iat within the skew", "shop-a", jwt.MapClaims{"sub": "c1", "aud": "shop-a", "exp": exp, "iat": now.Add(20 * time.Second).Unix()}, ""},
		{"configured audience", "shop-b", jwt.MapClaims{"sub": "c1", "aud": "https://shop-b.example", "exp": exp}, ""},
		{"no aud", "shop-a", jwt.MapClaims{"sub": "c1", "exp": exp}, "identity_invalid"},
		{"another deployment's", "shop-a", jwt.MapClaims{"sub": "c1", "aud": "shop-b", "exp": exp}, "identity_invalid"},
		{"key instead of the configured audience", "shop-b", jwt.MapClaims{"sub": "c1", "aud": "shop-b", "exp": exp}, "identity_invalid"},
		{"iat in the future", "shop-a", jwt.MapClaims{"sub": "c1", "aud": "shop-a", "exp": exp, "iat": now.Add(10 * time.Minute).Unix()}, "identity_invalid"},
		{"exp as a string", "shop-a", jwt.MapClaims{"sub": "c1", "aud": "shop-a", "exp": strconv.FormatInt(exp, 10)}, "identity_invalid"},
		{"iat as a string", "shop-a", jwt.MapClaims{"sub": "c1", "aud": "shop-a", "exp": exp, "iat": strconv.FormatInt(now.Unix(), 10)}, "identity_invalid"},
		{"no exp", "shop-a", jwt.MapClaims{"sub": "c1", "aud": "shop-a"}, "identity_invalid"},
		{"expired", "shop-a", jwt.MapClaims{"sub": "c1", "aud": "shop-a", "exp": now.Add(-time.Minute).Unix()}, "identity_expired"},
	}
	for _, tc := range cases {
		r := wiretest.NewHTTP(t, gw.URL).WithDeployment(tc.deployment).
			Command("WebChatService.startChat", map[string]any{"identity": map[string]string{"jwt": sign(tc.claims)}})
		switch {
		case tc.want == "" && r.Status != "resolved":
			t.Errorf("%s: HTTP %d %s, want started", tc.name, r.HTTPStatus, r.Body)
		case tc.want != "" && (r.Status != "rejected" || r.Error.Code != tc.want):
			t.Errorf("%s: HTTP %d %s, want %s", tc.name, r.HTTPStatus, r.Body, tc.want)
		}
	}
}
