package server

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cxgate/cxgate/engine"
	"github.com/cxgate/cxgate/model"
)

// ratings counts visitors' ratings of ended chats by their value, from
// committed EventChatRated: cxgate_chat_ratings_total{rating="1"…"5"}.
type ratings struct{ total *prometheus.CounterVec }

func newRatings() *ratings {
	r := &ratings{total: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cxgate_chat_ratings_total",
		Help: "Visitors' ratings of ended chats (rateChat), by rating from 1 to 5."}, []string{"rating"})}
	// Every value is exposed from the start, so a rate() over it needs no
	// first rating of each kind.
	for v := engine.RatingMin; v <= engine.RatingMax; v++ {
		r.total.WithLabelValues(strconv.Itoa(v))
	}
	return r
}

// observe is an engine observer: it runs on the store's writer goroutine.
func (r *ratings) observe(_ *model.Chat, evs []model.Event) {
	for _, ev := range evs {
		if v, ok := engine.RatingOf(ev); ok && v.Rating >= engine.RatingMin && v.Rating <= engine.RatingMax {
			r.total.WithLabelValues(strconv.Itoa(v.Rating)).Inc()
		}
	}
}
