package admin

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/cxgate/cxgate/bus"
)

// The rejection codes of AdminService, beside the bus's generic ones
// (invalid_request, not_found, forbidden). Codes are append-only.
const (
	CodeAlreadyExists = "already_exists"
	CodeInvalidConfig = "invalid_config"
	CodeInUse         = "in_use"
)

// The rejections of AdminService name the resource they are about, so
// they are made per call.

// errInvalidOptions refuses options that are not what the command takes.
func errInvalidOptions(why string) *bus.Rejection {
	return bus.Reject(http.StatusBadRequest, bus.CodeInvalidRequest, why)
}

// errNotFound refuses a change to a resource that does not exist.
func errNotFound(what, id string) *bus.Rejection {
	return bus.Reject(http.StatusNotFound, bus.CodeNotFound, fmt.Sprintf("No %s %q.", what, id))
}

// errAlreadyExists refuses to create a resource twice.
func errAlreadyExists(what, id string) *bus.Rejection {
	return bus.Reject(http.StatusConflict, CodeAlreadyExists, fmt.Sprintf("A %s %q already exists.", what, id))
}

// errInvalidConfig refuses a change the configuration check fails.
func errInvalidConfig(err error) *bus.Rejection {
	return bus.Reject(http.StatusBadRequest, CodeInvalidConfig, "The change makes the configuration invalid: "+err.Error())
}

// errInUse refuses to delete what other resources name.
func errInUse(why string) *bus.Rejection {
	return bus.Reject(http.StatusConflict, CodeInUse, why)
}

// Rejections lists every rejection of the plugin by name, with sample
// resources: the golden table of every plugin's rejections pins them
// (plugins/webchat/rejections_test.go).
func Rejections() map[string]*bus.Rejection {
	return map[string]*bus.Rejection{
		"errInvalidOptions":       errInvalidOptions("queue is required."),
		"errNotFound(queue)":      errNotFound("queue", "sales"),
		"errAlreadyExists(queue)": errAlreadyExists("queue", "sales"),
		"errInvalidConfig":        errInvalidConfig(errors.New(`deployment "demo": queue "nope" is not defined`)),
		"errInUse":                errInUse(`Queue "sales" has 2 chat(s) waiting.`),
	}
}
