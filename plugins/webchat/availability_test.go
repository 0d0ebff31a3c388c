package webchat_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/internal/wiretest"
	"github.com/cxgate/cxgate/model"
	"github.com/cxgate/cxgate/server/servertest"
)

type availability struct {
	Deployment         string `json:"deployment"`
	Queue              string `json:"queue"`
	Probability        int    `json:"probability"`
	AgentsOnline       int    `json:"agentsOnline"`
	AgentsWithCapacity int    `json:"agentsWithCapacity"`
	FreeSlots          int    `json:"freeSlots"`
	Queued             int    `json:"queued"`
}

// getAvailability asks GET /v1/availability with query q, from origin when
// not empty.
func getAvailability(t testing.TB, gw *servertest.Gateway, q url.Values, origin string) wiretest.Reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, gw.URL+"/v1/availability?"+q.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	h := wiretest.NewHTTP(t, gw.URL)
	h.Origin = origin
	return h.Do(req)
}

func availabilityOf(t testing.TB, gw *servertest.Gateway, deployment string) availability {
	t.Helper()
	var a availability
	getAvailability(t, gw, url.Values{"deployment": {deployment}}, "").Into(t, &a)
	return a
}

// TestAvailability follows the proactive-trigger answer as the only agent
// goes online, fills up, frees a slot and goes away.
func TestAvailability(t *testing.T) {
	cfg := config.Demo()
	cfg.Limits.RatePerIP, cfg.Limits.RatePerToken = -1, -1
	cfg.Agents[0].MaxChats = 1
	cfg.Deployments[0].Origins = []string{"https://shop.example"}
	gw := servertest.Start(t, servertest.Options{Config: &cfg})
	ctx := context.Background()

	want := func(step string, got, want availability) {
		t.Helper()
		if got != want {
			t.Errorf("%s: availability = %+v, want %+v", step, got, want)
		}
	}
	// settle waits for routing to reach the wanted answer.
	settle := func(step string, want availability) {
		t.Helper()
		deadline := time.Now().Add(wiretest.Timeout)
		for got := availabilityOf(t, gw, want.Deployment); got != want; got = availabilityOf(t, gw, want.Deployment) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: availability = %+v, want %+v", step, got, want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	a := availability{Deployment: "demo", Queue: "support"}
	want("offline", availabilityOf(t, gw, "demo"), a)

	ann := wiretest.NewHTTP(t, gw.URL).WithToken(gw.AgentToken)
	ann.Command("AgentService.setStatus", map[string]string{"status": "online"}).Resolved(t)
	want("online", availabilityOf(t, gw, "demo"), availability{Deployment: "demo", Queue: "support",
		Probability: 1, AgentsOnline: 1, AgentsWithCapacity: 1, FreeSlots: 1})

	var first, second started
	wiretest.NewHTTP(t, gw.URL).WithDeployment("demo").Command("WebChatService.startChat", nil).Into(t, &first)
	full := availability{Deployment: "demo", Queue: "support", AgentsOnline: 1}
	settle("at capacity", full)

	wiretest.NewHTTP(t, gw.URL).WithDeployment("demo").Command("WebChatService.startChat", nil).Into(t, &second)
	full.Queued = 1
	want("at capacity, one waiting", availabilityOf(t, gw, "demo"), full)
	want("the async deployment shares the queue", availabilityOf(t, gw, "demo-async"),
		availability{Deployment: "demo-async", Queue: "support", AgentsOnline: 1, Queued: 1})

	// The first chat ends: the waiting one takes the slot, still 0.
	wiretest.NewHTTP(t, gw.URL).WithToken(first.Token).Command("WebChatService.endChat", nil).Resolved(t)
	wiretest.WaitFor(t, wiretest.Timeout, func() bool {
		c, _ := gw.Store().Chat(ctx, second.ChatID)
		return c.State == model.StateActive
	})
	full.Queued = 0
	settle("the waiting chat took the slot", full)

	wiretest.NewHTTP(t, gw.URL).WithToken(second.Token).Command("WebChatService.endChat", nil).Resolved(t)
	settle("free again", availability{Deployment: "demo", Queue: "support",
		Probability: 1, AgentsOnline: 1, AgentsWithCapacity: 1, FreeSlots: 1})

	ann.Command("AgentService.setStatus", map[string]string{"status": "away"}).Resolved(t)
	want("away", availabilityOf(t, gw, "demo"), a)

	// Needs the agent lacks.
	ann.Command("AgentService.setStatus", map[string]string{"status": "online"}).Resolved(t)
	var got availability
	getAvailability(t, gw, url.Values{"deployment": {"demo"}, "skills": {"billing"}}, "").Into(t, &got)
	want("a skill nobody has", got, a)
	getAvailability(t, gw, url.Values{"deployment": {"demo"}, "language": {"fr"}}, "").Into(t, &got)
	want("a language nobody speaks", got, a)

	// Through the bus as well, for the browser bus and in-process callers.
	wiretest.NewHTTP(t, gw.URL).WithDeployment("demo").Command("WebChatService.getAvailability", nil).Into(t, &got)
	if got.Probability != 1 || got.Deployment != "demo" {
		t.Errorf("getAvailability command = %+v", got)
	}
}

func TestAvailability_Rejections(t *testing.T) {
	cfg := config.Demo()
	cfg.Limits.RatePerIP, cfg.Limits.RatePerToken = -1, -1
	cfg.Deployments[0].Origins = []string{"https://shop.example"}
	gw := servertest.Start(t, servertest.Options{Config: &cfg})
	for _, tc := range []struct {
		name   string
		q      url.Values
		origin string
		status int
		code   string
	}{
		{"NoDeployment", url.Values{}, "", 400, "invalid_request"},
		{"UnknownDeployment", url.Values{"deployment": {"nope"}}, "", 404, "unknown_deployment"},
		{"OriginNotAllowed", url.Values{"deployment": {"demo"}}, "https://evil.example", 403, "origin_not_allowed"},
		{"TooManySkills", url.Values{"deployment": {"demo"}, "skills": {"a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q"}}, "", 400, "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := getAvailability(t, gw, tc.q, tc.origin)
			if e := rep.Rejected(t); rep.HTTPStatus != tc.status || e.Code != tc.code {
				t.Errorf("HTTP %d %s, want %d %s", rep.HTTPStatus, rep.Body, tc.status, tc.code)
			}
		})
	}
	// An allowed origin gets the answer and CORS headers.
	rep := getAvailability(t, gw, url.Values{"deployment": {"demo"}}, "https://shop.example")
	rep.Resolved(t)
	if got := rep.Header.Get("Access-Control-Allow-Origin"); got != "https://shop.example" {
		t.Errorf("Access-Control-Allow-Origin = %q", got)
	}
	if got := rep.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}
}
