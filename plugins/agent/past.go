package agent

import (
	"context"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/cxgate/cxgate/bus"
	"github.com/cxgate/cxgate/model"
)

// Past chats: the ended chats the caller took part in, newest first,
// searchable.
//
//	AgentService.listPastChats {query, from, to, before, limit}
//	  → {chats: [PastChat], next}
//
// query (≤ 200 characters) matches, ignoring case, the visitor's name,
// email or subject, or the text of a message; from and to (unix ms) bound
// the chat's start. limit is 1–50 (default 20). A call reads at most
// pastScan chats: page on with before = next while next is not empty; a
// search can answer fewer chats than limit and a next. A chat's transcript
// is read with getTranscript. Chats that ended before the gateway kept this
// index are not listed.

const (
	pastPage      = 20
	pastPageMax   = 50
	pastScan      = 500  // chats read per call, matching or not
	pastScanEvent = 2000 // events of one chat a text search reads
	pastQueryMax  = 200
)

// PastChat is an ended chat as listPastChats lists it.
type PastChat struct {
	Assignment
	EndedAt int64         `json:"endedAt"`
	EndedBy model.EndedBy `json:"endedBy,omitempty"`
	Match   string        `json:"match,omitempty"` // the message text a query matched
}

func (s *Service) listPastChats(ctx context.Context, call *bus.Call) (any, error) {
	var o struct {
		Query  string `json:"query"`
		From   int64  `json:"from"`
		To     int64  `json:"to"`
		Before string `json:"before"`
		Limit  int    `json:"limit"`
	}
	if err := decode(call.Options, &o); err != nil {
		return nil, err
	}
	if utf8.RuneCountInString(o.Query) > pastQueryMax {
		return nil, ErrQueryTooLong
	}
	if o.Limit <= 0 {
		o.Limit = pastPage
	}
	o.Limit = min(o.Limit, pastPageMax)
	cur, err := parseCursor(o.Before)
	if err != nil {
		return nil, err
	}
	query := strings.ToLower(strings.TrimSpace(o.Query))
	out := []PastChat{}
	scanned := 0
	for len(out) < o.Limit && scanned < pastScan {
		page, next, err := s.engine.PastChats(ctx, call.Caller.ID, cur, min(pastPageMax, pastScan-scanned))
		if err != nil {
			return nil, err
		}
		for i, c := range page {
			scanned++
			cur = model.PastCursor{EndedAt: c.EndedAt, ChatID: c.ID}
			if o.From > 0 && c.EndedAt < o.From {
				return map[string]any{"chats": out, "next": ""}, nil // every later one ended earlier still
			}
			if (o.From > 0 && c.CreatedAt < o.From) || (o.To > 0 && c.CreatedAt > o.To) {
				continue
			}
			match, ok := s.pastMatch(ctx, &c, query)
			if !ok {
				continue
			}
			out = append(out, PastChat{Assignment: assignment(&c), EndedAt: c.EndedAt, EndedBy: c.EndedBy, Match: match})
			if len(out) == o.Limit {
				if i == len(page)-1 && next.ChatID == "" {
					cur = model.PastCursor{}
				}
				return map[string]any{"chats": out, "next": formatCursor(cur)}, nil
			}
		}
		if next.ChatID == "" {
			return map[string]any{"chats": out, "next": ""}, nil
		}
		cur = next
	}
	return map[string]any{"chats": out, "next": formatCursor(cur)}, nil
}

// pastMatch reports whether c matches query: its visitor or subject, else
// the first message whose text holds it (returned).
func (s *Service) pastMatch(ctx context.Context, c *model.Chat, query string) (string, bool) {
	if query == "" {
		return "", true
	}
	v := c.Visitor
	for _, f := range []string{v.Nickname, v.Firstname + " " + v.Lastname, v.Email, c.Subject} {
		if strings.Contains(strings.ToLower(f), query) {
			return "", true
		}
	}
	var after uint64
	for after < pastScanEvent {
		evs, err := s.engine.EventsAfter(ctx, c.ID, after, 500)
		if err != nil {
			return "", false
		}
		for _, ev := range evs {
			if ev.Type == model.EventMessage && !ev.Internal && strings.Contains(strings.ToLower(ev.Text), query) {
				return ev.Text, true
			}
			after = ev.Seq
		}
		if len(evs) < 500 {
			break
		}
	}
	return "", false
}

func formatCursor(c model.PastCursor) string {
	if c.ChatID == "" {
		return ""
	}
	return strconv.FormatInt(c.EndedAt, 10) + "." + c.ChatID
}

func parseCursor(s string) (model.PastCursor, error) {
	if s == "" {
		return model.PastCursor{}, nil
	}
	at, id, ok := strings.Cut(s, ".")
	n, err := strconv.ParseInt(at, 10, 64)
	if !ok || err != nil || n < 0 || id == "" || len(id) > 128 {
		return model.PastCursor{}, ErrBadCursor
	}
	return model.PastCursor{EndedAt: n, ChatID: id}, nil
}
