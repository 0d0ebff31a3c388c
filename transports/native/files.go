package native

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/cxgate/cxgate/bus"
	"github.com/cxgate/cxgate/plugins/webchat/contract"
	"github.com/cxgate/cxgate/transports/internal/upload"
)

// Files: POST /v1/files takes one file as multipart/form-data (part "file";
// optional fields "chatId" for agents and "requestId"), GET /v1/files/{id}
// sends one back. Both need a bearer token; the plugins decide what it may
// upload to and read (a visitor: its own chat only).

const maxFileIDLen = 128

// Stager and Staged are what the transports need of the store's staged
// files to stream uploads (Config.Stager, and gms.Config.Stager alike).
type (
	Stager = upload.Stager
	Staged = upload.Staged
)

// ErrNoToken rejects a file request without a bearer token.
var ErrNoToken = bus.Reject(http.StatusUnauthorized, bus.CodeUnauthorized, "A valid token is required.")

// Upload is a decoded POST /v1/files body. Every field is a copy owned by the
// Upload.
type Upload struct {
	File      *bus.File // nil when the form had no part "file"
	ChatID    string
	RequestID string

	form upload.Form
}

// Discard deletes the staged content of a streamed upload unless the
// command adopted it.
func (u *Upload) Discard() { u.form.Discard() }

// decodeUpload reads a multipart/form-data body as [upload.Read] does,
// with the fields chatId and requestId.
func decodeUpload(contentType string, body io.Reader) (Upload, error) {
	return streamUpload(context.Background(), nil, nil, contentType, body)
}

// streamUpload reads an upload as decodeUpload does, its file written to
// a file staged with st as it arrives and bounded by maxBytes
// ([upload.Stream]); with st nil, into memory.
func streamUpload(ctx context.Context, st upload.Stager, maxBytes func() int64, contentType string, body io.Reader) (Upload, error) {
	var (
		f   upload.Form
		err error
	)
	if st == nil {
		f, err = upload.Read(contentType, body, nil, "chatId", "requestId")
	} else {
		f, err = upload.Stream(ctx, st, contentType, body, upload.StreamOptions{MaxBytes: maxBytes}, "chatId", "requestId")
	}
	if err != nil {
		return Upload{}, err
	}
	return Upload{File: f.File, ChatID: f.Fields["chatId"], RequestID: f.Fields["requestId"], form: f}, nil
}

// fileCommand is the command a caller uploads or downloads files with.
func fileCommand(k bus.CallerKind, verb string) (string, error) {
	switch k {
	case bus.KindVisitor:
		return contract.Service + "." + verb, nil
	case bus.KindAgent:
		return "AgentService." + verb, nil
	}
	return "", bus.ErrForbidden
}

// fileCaller authenticates a file request: a token is required.
func (t *Transport) fileCaller(ctx context.Context, c *fiber.Ctx) (bus.Caller, error) {
	if bearer(c) == "" {
		return bus.Caller{}, ErrNoToken
	}
	return t.caller(ctx, c, "")
}

func (t *Transport) handleUpload(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(withRequestID(c.UserContext(), c.GetRespHeader(fiber.HeaderXRequestID)), t.cfg.CommandTimeout)
	defer cancel()
	caller, err := t.fileCaller(ctx, c)
	if err != nil {
		return err
	}
	name, err := fileCommand(caller.Kind, "sendFile")
	if err != nil {
		return err
	}
	// The token was checked on the headers alone: only now is the body read.
	// A visitor's deployment is known from its token, so its file is
	// bounded as it arrives; an agent's chat may be named after the file.
	maxBytes := func() int64 {
		if caller.Kind != bus.KindVisitor || t.cfg.FileLimit == nil {
			return 0
		}
		return t.cfg.FileLimit(caller.Deployment)
	}
	// The body takes as long as the client sends it (the gateway bounds
	// that): its writes to the store run under the request's context, and
	// the command's time starts once it is read.
	up, err := streamUpload(c.UserContext(), t.cfg.Stager, maxBytes, c.Get(fiber.HeaderContentType), upload.Body(c))
	if err != nil {
		return err
	}
	// After the command: it adopted the staged content, or it goes.
	defer up.Discard()
	cancel()
	ctx, cancel = context.WithTimeout(withRequestID(c.UserContext(), c.GetRespHeader(fiber.HeaderXRequestID)), t.cfg.CommandTimeout)
	defer cancel()
	if up.ChatID == "" {
		up.ChatID = c.Query("chatId")
	}
	opts, err := json.Marshal(map[string]string{"chatId": up.ChatID, "requestId": up.RequestID})
	if err != nil {
		return err
	}
	res, err := t.bus.CommandWithFile(ctx, caller, name, opts, up.File)
	if err != nil {
		return t.logRejection(ctx, caller, name, err)
	}
	data, err := bus.EncodeResult(res)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(appendReply(nil, nil, data, nil))
}

func (t *Transport) handleDownload(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(withRequestID(c.UserContext(), c.GetRespHeader(fiber.HeaderXRequestID)), t.cfg.CommandTimeout)
	defer cancel()
	if bearer(c) == "" && c.Query("sig") != "" {
		return t.signedDownload(ctx, c)
	}
	caller, err := t.fileCaller(ctx, c)
	if err != nil {
		return err
	}
	name, err := fileCommand(caller.Kind, "downloadFile")
	if err != nil {
		return err
	}
	id := strings.Clone(c.Params("id"))
	if id == "" || len(id) > maxFileIDLen {
		return bus.Reject(http.StatusNotFound, contract.CodeFileNotFound, "No such file in this chat.")
	}
	opts, err := json.Marshal(map[string]string{"fileId": id, "chatId": c.Query("chatId")})
	if err != nil {
		return err
	}
	res, err := t.bus.Command(ctx, caller, name, opts)
	if err != nil {
		return t.logRejection(ctx, caller, name, err)
	}
	f, ok := res.(*bus.File)
	if !ok {
		return bus.ErrInternal.Wrap(errors.New("native: " + name + " did not resolve with a file"))
	}
	return upload.Send(c, f)
}

// logRejection logs internal failures, as run does, and returns the
// rejection.
func (t *Transport) logRejection(ctx context.Context, caller bus.Caller, name string, err error) error {
	rej := bus.AsRejection(err)
	if rej.Code == bus.CodeInternal {
		t.cfg.Logger.Error("command failed", "request", requestID(ctx), "command", name,
			"caller", caller.Kind.String(), "err", err)
	}
	return rej
}

// CommandSignedDownload serves a download link signed by an admin export
// (GET /v1/files/{id}?expires=…&sig=…, no token): the signature is checked
// by the plugin.
const CommandSignedDownload = "DataService.downloadFile"

func (t *Transport) signedDownload(ctx context.Context, c *fiber.Ctx) error {
	caller := bus.Caller{Kind: bus.KindGuest, Remote: c.IP()}
	opts, err := json.Marshal(map[string]string{"fileId": strings.Clone(c.Params("id")),
		"expires": strings.Clone(c.Query("expires")), "sig": strings.Clone(c.Query("sig"))})
	if err != nil {
		return err
	}
	res, err := t.bus.Command(ctx, caller, CommandSignedDownload, opts)
	if err != nil {
		return t.logRejection(ctx, caller, CommandSignedDownload, err)
	}
	f, ok := res.(*bus.File)
	if !ok {
		return bus.ErrInternal.Wrap(errors.New("native: " + CommandSignedDownload + " did not resolve with a file"))
	}
	return upload.Send(c, f)
}
