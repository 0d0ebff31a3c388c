package webhooks

import (
	"net/http"

	"github.com/cxgate/cxgate/bus"
)

// The rejection codes of the webhooks' commands, beside the bus's generic
// ones (invalid_request). Codes are append-only.
const (
	CodeDeliveryNotFound = "delivery_not_found"
)

// Rejections. Codes are append-only.
var (
	ErrInvalidOptions   = bus.ErrInvalidOptions
	ErrBadState         = bus.Reject(http.StatusBadRequest, bus.CodeInvalidRequest, "state must be pending or dead.")
	ErrNoID             = bus.Reject(http.StatusBadRequest, bus.CodeInvalidRequest, "id is required: a delivery's id.")
	ErrDeliveryNotFound = bus.Reject(http.StatusNotFound, CodeDeliveryNotFound, "No such delivery.")
	ErrRetryState       = bus.Reject(http.StatusBadRequest, bus.CodeInvalidRequest, "state must be dead.")
)

// Rejections lists every rejection of the plugin by name: the golden table
// of every plugin's rejections pins them (plugins/webchat/rejections_test.go).
func Rejections() map[string]*bus.Rejection {
	return map[string]*bus.Rejection{
		"ErrInvalidOptions":   ErrInvalidOptions,
		"ErrBadState":         ErrBadState,
		"ErrNoID":             ErrNoID,
		"ErrDeliveryNotFound": ErrDeliveryNotFound,
		"ErrRetryState":       ErrRetryState,
	}
}
