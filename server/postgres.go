package server

import (
	"errors"

	"github.com/cxgate/cxgate/config"
)

func (s *Server) openPostgres(cfg config.Config, o Options) (backend, error) {
	return nil, errors.New("server: store.postgres: not yet")
}
