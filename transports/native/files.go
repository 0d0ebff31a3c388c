package native

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/cxgate/cxgate/bus"
)

// Files: POST /v1/files takes one file as multipart/form-data (part "file";
// optional fields "chatId" for agents and "requestId"), GET /v1/files/{id}
// sends one back. Both need a bearer token; the plugins decide what it may
// upload to and read (a visitor: its own chat only).

const (
	maxUploadParts = 8   // parts read from an upload; the rest is refused
	maxFieldBytes  = 256 // a form field other than the file
	maxFileIDLen   = 128
)

// ErrNoToken rejects a file request without a bearer token.
var ErrNoToken = bus.Reject(http.StatusUnauthorized, bus.CodeUnauthorized, "A valid token is required.")

// Upload is a decoded POST /v1/files body. Every field is a copy owned by the
// Upload.
type Upload struct {
	File      *bus.File // nil when the form had no part "file"
	ChatID    string
	RequestID string
}

func badUpload(why string) *bus.Rejection {
	return bus.Reject(http.StatusBadRequest, bus.CodeInvalidRequest, "The upload is not valid: "+why+".")
}

// decodeUpload reads a multipart/form-data body: the part "file" (its name
// from the part's filename, its declared type from the part's Content-Type),
// and the fields chatId and requestId. Unknown fields are skipped; a second
// file, too many parts or a malformed body is invalid_request.
func decodeUpload(contentType string, body []byte) (Upload, error) {
	var up Upload
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return up, badUpload(`the body must be multipart/form-data with a part named "file"`)
	}
	r := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	for n := 0; ; n++ {
		part, err := r.NextPart()
		if errors.Is(err, io.EOF) {
			return up, nil
		}
		if err != nil {
			return Upload{}, badUpload("malformed multipart body").Wrap(err)
		}
		if n == maxUploadParts {
			return Upload{}, badUpload("too many parts")
		}
		switch part.FormName() {
		case "file":
			if up.File != nil {
				return Upload{}, badUpload("one file per upload")
			}
			data, err := io.ReadAll(part)
			if err != nil {
				return Upload{}, badUpload("malformed file part").Wrap(err)
			}
			up.File = &bus.File{Name: part.FileName(), Type: part.Header.Get(fiber.HeaderContentType),
				Size: int64(len(data)), Data: data}
		case "chatId", "requestId":
			v, err := io.ReadAll(io.LimitReader(part, maxFieldBytes+1))
			if err != nil || len(v) > maxFieldBytes {
				return Upload{}, badUpload(part.FormName() + " is limited to 256 bytes")
			}
			if part.FormName() == "chatId" {
				up.ChatID = string(v)
			} else {
				up.RequestID = string(v)
			}
		}
		_ = part.Close()
	}
}

// fileCommand is the command a caller uploads or downloads files with.
func fileCommand(k bus.CallerKind, verb string) (string, error) {
	switch k {
	case bus.KindVisitor:
		return "WebChatService." + verb, nil
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
	up, err := decodeUpload(c.Get(fiber.HeaderContentType), c.Request().Body())
	if err != nil {
		return err
	}
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
		return bus.Reject(http.StatusNotFound, "file_not_found", "No such file in this chat.")
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
	typ := f.Type
	if typ == "" {
		typ = "application/octet-stream"
	}
	c.Set(fiber.HeaderContentType, typ)
	c.Set(fiber.HeaderContentDisposition, ContentDisposition(f.Name))
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Set(fiber.HeaderCacheControl, "private, no-store")
	// Opened directly rather than downloaded, the file still runs nothing.
	c.Set(fiber.HeaderContentSecurityPolicy, "default-src 'none'; sandbox")
	return c.Send(f.Data)
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

// ContentDisposition is the Content-Disposition of a download named name:
// always an attachment, the name quoted or RFC 2231-encoded as its bytes
// require, so that no name can break out of the header.
func ContentDisposition(name string) string {
	if v := mime.FormatMediaType("attachment", map[string]string{"filename": name}); v != "" {
		return v
	}
	return "attachment"
}
