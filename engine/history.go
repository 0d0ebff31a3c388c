package engine

import (
	"context"

	"github.com/cxgate/cxgate/model"
)

// MessagesBefore reads back from seq before (0: the newest) until it holds
// limit messages that visible admits, oldest first. Events visible refuses
// (thread boundaries, context updates, whispers for a visitor) are skipped,
// not counted. oldest is where the next page starts: the oldest message's
// index when the page is full, else the oldest event read.
func (e *Engine) MessagesBefore(ctx context.Context, chatID string, before uint64, limit int, visible func(model.Event) bool) (msgs []Message, oldest uint64, err error) {
	msgs = []Message{}
	oldest = before
	for len(msgs) < limit && oldest != 1 {
		evs, err := e.log.EventsBefore(ctx, chatID, oldest, limit)
		if err != nil {
			return nil, 0, err
		}
		if len(evs) == 0 {
			break
		}
		var page []Message
		for _, ev := range evs {
			if visible(ev) {
				page = append(page, ToMessage(ev))
			}
		}
		if extra := len(msgs) + len(page) - limit; extra > 0 {
			page = page[extra:]
			oldest = page[0].Index
		} else {
			oldest = evs[0].Seq
		}
		msgs = append(page, msgs...)
	}
	return msgs, oldest, nil
}

// PastChats reads the ended chats an agent took part in, most recently ended
// first: a page of up to limit after cursor, and the next page's cursor
// (zero at the end).
func (e *Engine) PastChats(ctx context.Context, agentID string, after model.PastCursor, limit int) ([]model.Chat, model.PastCursor, error) {
	return e.log.PastChats(ctx, agentID, after, limit)
}
