package adminapi

import (
	"github.com/gofiber/fiber/v2"
)

// Commands the transport forwards to DataService: erasure and export of a
// visitor's data.
const (
	CommandEraseIdentity  = "DataService.eraseIdentity"
	CommandExportIdentity = "DataService.exportIdentity"
)

// mountData adds the routes of a visitor's data:
//
//	DELETE /v1/admin/identities/:id         erase the identity and every chat of it
//	DELETE /v1/admin/chats/:id/identity     the same, for the identity of a chat
//	GET    /v1/admin/identities/:id/export  everything kept about it, as one document
func (t *Transport) mountData(g fiber.Router) {
	g.Delete("/identities/:id", t.handle(func(c *fiber.Ctx) (string, []byte, error) {
		return CommandEraseIdentity, mustJSON(map[string]string{"identityId": c.Params("id")}), nil
	}))
	g.Delete("/chats/:id/identity", t.handle(func(c *fiber.Ctx) (string, []byte, error) {
		return CommandEraseIdentity, mustJSON(map[string]string{"chatId": c.Params("id")}), nil
	}))
	g.Get("/identities/:id/export", t.handle(func(c *fiber.Ctx) (string, []byte, error) {
		return CommandExportIdentity, mustJSON(map[string]string{"identityId": c.Params("id")}), nil
	}))
}
