package lifecycle

import (
	"net/http"

	"github.com/cxgate/cxgate/bus"
)

// The rejection codes of the lifecycle's commands, beside the bus's generic
// ones (not_found, invalid_request) and the file codes of
// plugins/webchat/contract (an export link's file). Codes are append-only.
const (
	CodeLinkInvalid = "link_invalid"
	CodeLinkExpired = "link_expired"
)

// Rejections of the plugin. Codes are append-only.
var (
	ErrNoIdentity  = bus.Reject(http.StatusNotFound, bus.CodeNotFound, "No such identity, or it was erased.")
	ErrNoChat      = bus.Reject(http.StatusNotFound, bus.CodeNotFound, "No such chat, or it was erased.")
	ErrNeedID      = bus.Reject(http.StatusBadRequest, bus.CodeInvalidRequest, "identityId or chatId is required.")
	ErrLinkInvalid = bus.Reject(http.StatusForbidden, CodeLinkInvalid, "This download link is not valid.")
	ErrLinkExpired = bus.Reject(http.StatusForbidden, CodeLinkExpired, "This download link has expired.")
)

// Rejections lists every rejection of the plugin by name: the golden table
// of every plugin's rejections pins them (plugins/webchat/rejections_test.go).
func Rejections() map[string]*bus.Rejection {
	return map[string]*bus.Rejection{
		"ErrNoIdentity":  ErrNoIdentity,
		"ErrNoChat":      ErrNoChat,
		"ErrNeedID":      ErrNeedID,
		"ErrLinkInvalid": ErrLinkInvalid,
		"ErrLinkExpired": ErrLinkExpired,
	}
}
