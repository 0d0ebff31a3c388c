package native

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/cxgate/cxgate/bus"
	"github.com/cxgate/cxgate/plugins/webchat/contract"
	"github.com/cxgate/cxgate/transports/internal/httpauth"
)

// CommandGetAvailability answers GET /v1/availability.
const CommandGetAvailability = contract.GetAvailability

// handleAvailability answers the proactive-trigger question for a
// deployment without a token: GET /v1/availability?deployment=K, optionally
// with &language=L and &skills=a,b. A browser page must be on one of the
// deployment's origins, as for startChat.
func (t *Transport) handleAvailability(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), t.cfg.CommandTimeout)
	defer cancel()
	opts := contract.GetAvailabilityOptions{Deployment: c.Query("deployment")}
	opts.Language = c.Query("language")
	if sk := c.Query("skills"); sk != "" {
		opts.Skills = strings.Split(sk, ",")
	}
	options, err := json.Marshal(opts)
	if err != nil {
		return bus.ErrInternal.Wrap(err)
	}
	caller := bus.Caller{Kind: bus.KindGuest, Deployment: strings.Clone(c.Query("deployment")), Remote: c.IP()}
	if err := t.checkOrigin(caller, httpauth.PageOrigin(c, t.cfg.PublicURL)); err != nil {
		return err
	}
	data, err := t.run(ctx, caller, Command{Name: CommandGetAvailability, Options: options})
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Send(appendReply(nil, nil, data, nil))
}
