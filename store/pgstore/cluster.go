package pgstore

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Heads returns, of the chats in known (chat id → the last seq a node
// delivered), those whose log has grown beyond it, with their last seq: a
// node catching up on commits its peers' messages did not bring.
func (s *Store) Heads(ctx context.Context, known map[string]uint64) (map[string]uint64, error) {
	if len(known) == 0 {
		return nil, nil
	}
	ids := make([]string, 0, len(known))
	seqs := make([]int64, 0, len(known))
	for id, seq := range known {
		ids = append(ids, id)
		seqs = append(seqs, int64(seq))
	}
	rows, err := s.pool.Query(ctx, `SELECT c.id, c.last_seq FROM chats c
		JOIN unnest($1::text[], $2::bigint[]) AS k(id, seq) ON c.id = k.id
		WHERE c.last_seq > k.seq`, ids, seqs)
	if err != nil {
		return nil, fmt.Errorf("pgstore: heads: %w", err)
	}
	defer rows.Close()
	grown := map[string]uint64{}
	for rows.Next() {
		var id string
		var last int64
		if err := rows.Scan(&id, &last); err != nil {
			return nil, fmt.Errorf("pgstore: heads: %w", err)
		}
		grown[id] = uint64(last)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pgstore: heads: %w", err)
	}
	return grown, nil
}

// LeadershipKey is the advisory lock that the cluster's leader holds.
const LeadershipKey = 0x63786761746c64 // "cxgatld"

// Lead competes for the cluster's leadership until ctx ends: it holds the
// session advisory lock key on a connection of its own while it can, and
// calls leading(true) when it got it and leading(false) when it lost it
// (the connection failed a check). Losing the session releases the lock in
// the database, so a leader that dies (kill -9 closes its socket; a host
// that vanishes is caught by the TCP keepalives set below) is replaced by
// the next node that tries, within every (how often non-leaders try and
// the leader checks its connection).
func (s *Store) Lead(ctx context.Context, key int64, every time.Duration, leading func(bool)) {
	cfg := s.pool.Config().ConnConfig.Copy()
	held := false
	set := func(v bool) {
		if v != held {
			held = v
			leading(v)
		}
	}
	defer set(false)
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			_ = conn.Close(context.Background())
		}
	}()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		err := func() error {
			cctx, cancel := context.WithTimeout(ctx, every+time.Second)
			defer cancel()
			if conn == nil {
				c, err := pgx.ConnectConfig(cctx, cfg)
				if err != nil {
					return err
				}
				conn = c
				// The database drops a session whose client went silent
				// within about 6 s, and the lock with it.
				if _, err := conn.Exec(cctx, `SET tcp_keepalives_idle = 2; SET tcp_keepalives_interval = 1; SET tcp_keepalives_count = 3`); err != nil {
					return err
				}
			}
			if held {
				_, err := conn.Exec(cctx, `SELECT 1`)
				return err
			}
			var got bool
			if err := conn.QueryRow(cctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&got); err != nil {
				return err
			}
			set(got)
			return nil
		}()
		if err != nil {
			// Whatever the lock's state in the database, this node no
			// longer knows it holds it: step down, start a new session.
			set(false)
			if conn != nil {
				_ = conn.Close(context.Background())
				conn = nil
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
