package server

import (
	"github.com/cxgate/cxgate/gateway"
	"github.com/cxgate/cxgate/transports/gms"
	"github.com/cxgate/cxgate/transports/purecloud"
)

// The legacy wires take the gateway's middleware under their prefixes.
var (
	_ gateway.Wire = (*gms.Transport)(nil)
	_ gateway.Wire = (*purecloud.Transport)(nil)
)

// purecloud is the Genesys Cloud guest chat v2 transport, with the native
// wire's origin rules; the gateway gives it the native rate limits.
func (s *Server) purecloud(lim *limits) *purecloud.Transport {
	return purecloud.New(s.bus, purecloud.Config{
		OriginAllowed: func(deployment, origin string) bool {
			d, ok := s.engine.Config().Deployment(deployment)
			return ok && d.AllowsOrigin(origin)
		},
		PublicURL:   s.cfg.PublicOrigin(),
		ChatSockets: lim.chatSockets,
	})
}
