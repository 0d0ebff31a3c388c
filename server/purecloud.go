package server

import (
	"github.com/cxgate/cxgate/transports/purecloud"
)

// purecloud is the Genesys Cloud guest chat v2 transport, with the native
// wire's origin rules and rate limits.
func (s *Server) purecloud() *purecloud.Transport {
	return purecloud.New(s.bus, purecloud.Config{
		OriginAllowed: func(deployment, origin string) bool {
			d, ok := s.engine.Config().Deployment(deployment)
			return ok && d.AllowsOrigin(origin)
		},
		AnyOriginAllowed: s.anyOrigin,
		RatePerIP:        s.cfg.Limits.RatePerIP,
		RatePerToken:     s.cfg.Limits.RatePerToken,
		Logger:           s.logger,
	})
}
