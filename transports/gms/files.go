package gms

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/cxgate/cxgate/bus"
	"github.com/cxgate/cxgate/internal/mediatype"
	"github.com/cxgate/cxgate/plugins/webchat/contract"
	"github.com/cxgate/cxgate/transports/internal/upload"
)

// Files: /{chatId}/file uploads one file (multipart: part "file" and the
// fields alias, userId and secureKey), /{chatId}/file/limits answers the
// deployment's file policy as GMS's file-config Notice, and
// /{chatId}/file/{fileId}/download (the widget's form POST) answers the
// bytes. Deleting is not supported: files are kept with their chat.

// maxFileIDLen bounds the file id of a download path.
const maxFileIDLen = 128

// IsUpload reports whether path is the upload route /{service}/{chatId}/file
// (a trailing slash allowed), whose bodies the gateway lets be as large as
// uploads may be.
func (t *Transport) IsUpload(path string) bool {
	rest, ok := strings.CutPrefix(path, Prefix+"/")
	if !ok {
		return false
	}
	parts := strings.Split(strings.TrimSuffix(rest, "/"), "/")
	return len(parts) == 3 && parts[0] != "" && parts[1] != "" && parts[2] == "file"
}

// serviceOf reads the service name from a path under Prefix.
func serviceOf(path string) string {
	rest, _ := strings.CutPrefix(path, Prefix+"/")
	service, _, _ := strings.Cut(rest, "/")
	return strings.Clone(service)
}

// sendFile serves /{chatId}/file: the body is read as a stream, never
// parsed by fasthttp (which would spool large files to disk). The
// credentials travel in the form itself: when they come before the file
// part, the request is authenticated before any of the file is read; when
// the file comes first it is read (within the gateway's upload bounds) and
// the request authenticated after.
func (t *Transport) sendFile(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), t.cfg.CommandTimeout)
	defer cancel()
	var (
		s      session
		authed bool
		err    error
	)
	auth := func(fields map[string]string) error {
		f := newForm()
		for k, v := range fields {
			f.Fields[k] = v
		}
		var err error
		s, err = t.authenticate(ctx, c, f)
		authed = err == nil
		return err
	}
	beforeFile := func(fields map[string]string) error {
		if fields["secureKey"] == "" {
			return nil
		}
		return auth(fields)
	}
	var up upload.Form
	if t.cfg.Stager != nil {
		maxBytes := func() int64 {
			if !authed || t.cfg.FileLimit == nil {
				return 0
			}
			return t.cfg.FileLimit(s.caller.Deployment)
		}
		// The body takes as long as the client sends it (the gateway
		// bounds that): its writes to the store run under the request's
		// context, and the command's time starts anew once it is read.
		up, err = upload.Stream(c.UserContext(), t.cfg.Stager, c.Get(fiber.HeaderContentType), upload.Body(c),
			upload.StreamOptions{BeforeFile: beforeFile, MaxBytes: maxBytes}, "alias", "userId", "secureKey")
	} else {
		up, err = upload.Read(c.Get(fiber.HeaderContentType), upload.Body(c), beforeFile, "alias", "userId", "secureKey")
	}
	// After the command: it adopted the staged content, or it goes.
	defer up.Discard()
	cancel()
	ctx, cancel = context.WithTimeout(c.UserContext(), t.cfg.CommandTimeout)
	defer cancel()
	if err == nil && !authed {
		err = auth(up.Fields)
	}
	if err != nil {
		return t.fail(c, err)
	}
	res, err := t.bus.CommandWithFile(ctx, s.caller, contract.SendFile, []byte("{}"), up.File)
	if err != nil {
		return t.fail(c, t.fileError(ctx, s.caller, err))
	}
	fr, err := contract.Result[contract.FileResult](res)
	if err != nil {
		return t.fail(c, err)
	}
	return reply(c, http.StatusOK, &response{StatusCode: statusOK, ChatID: s.caller.ID, UserID: s.userID,
		SecureKey: s.secureKey, Alias: t.cfg.Alias, Messages: []message{}, UserData: userData(fr.FileDetails)})
}

func (t *Transport) getLimits(ctx context.Context, caller bus.Caller) (contract.FileLimits, error) {
	return call[contract.FileLimits](ctx, t, caller, contract.GetFileLimits, struct{}{})
}

// fileLimits serves /{chatId}/file/limits: the policy of the chat's
// deployment in GMS's keys, as the userData of a Notice from the visitor.
func (t *Transport) fileLimits(ctx context.Context, c *fiber.Ctx, f form) (*response, error) {
	s, err := t.authenticate(ctx, c, f)
	if err != nil {
		return nil, err
	}
	l, err := t.getLimits(ctx, s.caller)
	if err != nil {
		return nil, err
	}
	if !l.Enabled {
		return nil, errNoFiles
	}
	ud, err := json.Marshal(map[string]string{
		"upload-max-files":      strconv.Itoa(l.MaxUploads),
		"upload-max-file-size":  strconv.FormatInt(l.MaxBytes, 10),
		"upload-max-total-size": strconv.FormatInt(l.MaxBytes*int64(l.MaxUploads), 10),
		"upload-file-types":     extensions(l.Types),
		"upload-need-agent":     "false",
		"used-upload-max-files": strconv.FormatUint(uint64(l.Uploads), 10),
	})
	if err != nil {
		return nil, err
	}
	notice := message{From: from{ParticipantID: participantNumber("Client", ""), Type: "Client"}, Type: "Notice",
		Text: "file-client-cfg-get", UTCTime: time.Now().UnixMilli(), UserData: ud}
	return &response{StatusCode: statusOK, ChatID: s.caller.ID, UserID: s.userID, SecureKey: s.secureKey,
		Alias: t.cfg.Alias, Messages: []message{notice}}, nil
}

// downloadFile serves /{chatId}/file/{fileId}/download: the file's bytes as
// an attachment, or the GMS error envelope.
func (t *Transport) downloadFile(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), t.cfg.CommandTimeout)
	defer cancel()
	f, err := parse(c)
	if err != nil {
		return t.fail(c, err)
	}
	s, err := t.authenticate(ctx, c, f)
	if err != nil {
		return t.fail(c, err)
	}
	id := strings.Clone(c.Params("fileId"))
	if len(id) > maxFileIDLen {
		return t.fail(c, bus.Reject(http.StatusNotFound, contract.CodeFileNotFound, "No such file in this chat."))
	}
	opts, err := json.Marshal(contract.DownloadFileOptions{FileID: id})
	if err != nil {
		return t.fail(c, err)
	}
	res, err := t.bus.Command(ctx, s.caller, contract.DownloadFile, opts)
	if err != nil {
		return t.fail(c, err)
	}
	file, ok := res.(*bus.File)
	if !ok {
		return t.fail(c, bus.ErrInternal.Wrap(errors.New("gms: WebChatService.downloadFile did not resolve with a file")))
	}
	return upload.Send(c, file)
}

// fileError gives an upload's rejections by the deployment's limits GMS's
// codes, with a 400 as GMS answers them: 201 with the most files a chat
// takes as advice, 202 with the most bytes a file may have, 203 for a type
// not allowed. Other errors pass through.
func (t *Transport) fileError(ctx context.Context, caller bus.Caller, err error) error {
	rej := bus.AsRejection(err)
	var code int
	switch rej.Code {
	case contract.CodeFileLimitReached:
		code = codeMaxFiles
	case contract.CodeFileTooLarge:
		code = codeUploadLimit
	case contract.CodeFileTypeNotAllowed:
		code = codeFileType
	default:
		return err
	}
	advice := rej.Message
	if code != codeFileType {
		if l, err := t.getLimits(ctx, caller); err == nil && l.Enabled {
			advice = strconv.FormatInt(l.MaxBytes, 10)
			if code == codeMaxFiles {
				advice = strconv.Itoa(l.MaxUploads)
			}
		}
	}
	return &gmsError{Rejection: bus.Reject(http.StatusBadRequest, rej.Code, advice).Wrap(err), code: code}
}

// extensions is GMS's upload-file-types of a list of media types: the file
// extensions of each, colon-separated; "image/*" stands for every image
// type the gateway detects.
func extensions(types []string) string {
	seen := map[string]bool{}
	var out []string
	add := func(t string) {
		// Alphabetical within a type, as GMS lists them.
		exts := slices.Clone(mediatype.Extensions(t))
		slices.Sort(exts)
		for _, e := range exts {
			if !seen[e] {
				seen[e] = true
				out = append(out, e)
			}
		}
	}
	for _, t := range types {
		if prefix, ok := strings.CutSuffix(t, "/*"); ok {
			for _, k := range mediatype.Types() {
				if strings.HasPrefix(k, prefix+"/") {
					add(k)
				}
			}
			continue
		}
		add(t)
	}
	return strings.Join(out, ":")
}
