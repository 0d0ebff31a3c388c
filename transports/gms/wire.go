package gms

import (
	"bytes"
	"encoding/json"
	"hash/fnv"
	"net/http"
	"strconv"

	"github.com/cxgate/cxgate/bus"
	"github.com/cxgate/cxgate/plugins/webchat/contract"
)

// Status codes of the envelope, as the widget reads them.
const (
	statusOK          = 0 // done
	statusUnavailable = 1 // the chat server is unavailable: retry later
	statusError       = 2 // failed: see errors
)

// response is the GMS envelope.
type response struct {
	StatusCode   int             `json:"statusCode"`
	ChatEnded    bool            `json:"chatEnded"`
	ChatID       string          `json:"chatId,omitempty"`
	UserID       string          `json:"userId,omitempty"`
	SecureKey    string          `json:"secureKey,omitempty"`
	Alias        string          `json:"alias,omitempty"`
	Messages     []message       `json:"messages"`
	NextPosition uint64          `json:"nextPosition,omitempty"`
	UserData     json.RawMessage `json:"userData,omitempty"` // an upload's file details (/file)
	Errors       []apiError      `json:"errors,omitempty"`
}

// message is one transcript entry in GMS form.
type message struct {
	From     from            `json:"from"`
	Index    int64           `json:"index"` // the seq; negative for typing (typingIndex)
	Type     string          `json:"type"`
	Text     string          `json:"text,omitempty"`
	UTCTime  int64           `json:"utcTime"`
	UserData json.RawMessage `json:"userData,omitempty"`
}

type from struct {
	Nickname      string `json:"nickname"`
	ParticipantID uint32 `json:"participantId"`
	Type          string `json:"type"`
}

type apiError struct {
	Code   int    `json:"code"`
	Advice string `json:"advice"`
}

// The WebChatService events this wire reads.
const (
	eventMessageReceived = contract.Service + ".messageReceived"
	eventEnded           = contract.Service + ".ended"
)

// participantNumber is a participant's number in GMS form, which clients
// parse as an integer: 1 for the visitor, a stable number from 2 up derived
// from the id for everyone else.
func participantNumber(typ, id string) uint32 {
	if typ == "Client" {
		return 1
	}
	h := fnv.New32a()
	h.Write([]byte(id))
	return 2 + h.Sum32()%(1<<30)
}

func toMessage(m contract.Message) message {
	out := message{Index: int64(m.Index), Type: m.Type, Text: m.Text, UTCTime: m.Timestamp,
		From: from{Nickname: m.From.Name, Type: m.From.Type, ParticipantID: participantNumber(m.From.Type, m.From.ParticipantID)}}
	if len(m.FileDetails) > 0 {
		out.UserData = userData(m.FileDetails) // the widget reads a FileUploaded's details from userData
	}
	return out
}

// userData is a JSON object in GMS's userData form, whose values are all
// strings: a FileUploaded's {"file-name","file-size","file-id","file-type"}
// with the size as "48213". Values that are neither strings, numbers nor
// booleans are dropped; nil if raw is not an object.
func userData(raw json.RawMessage) json.RawMessage {
	var in map[string]any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if d.Decode(&in) != nil || in == nil {
		return nil
	}
	out := make(map[string]string, len(in))
	for k, v := range in {
		switch v := v.(type) {
		case string:
			out[k] = v
		case json.Number:
			out[k] = v.String()
		case bool:
			out[k] = strconv.FormatBool(v)
		}
	}
	enc, err := json.Marshal(out)
	if err != nil {
		return nil
	}
	return enc
}

// transcript maps feed units to GMS messages. ended reports whether the
// chat's end is among them; next is the position after the last unit.
func transcript(units []bus.Event, pos uint64) (msgs []message, next uint64, ended bool) {
	msgs = []message{}
	next = pos
	for _, u := range units {
		for _, ev := range append([]bus.Event{u}, u.With...) {
			switch ev.Name {
			case eventMessageReceived:
				var d contract.MessageReceived
				if json.Unmarshal(ev.Data, &d) != nil {
					continue
				}
				for _, m := range d.Messages {
					msgs = append(msgs, toMessage(m))
				}
			case eventEnded:
				ended = true
			}
		}
		if u.Seq >= next {
			next = u.Seq + 1
		}
	}
	return msgs, next, ended
}

// errorOf maps a rejection to the HTTP status, envelope status and GMS error
// code a GMS client understands (the widget's Errors table).
func errorOf(rej *bus.Rejection) (httpStatus, statusCode, code int, chatEnded bool) {
	httpStatus, statusCode, code = rej.Status, statusError, rej.Status
	if httpStatus == 0 {
		httpStatus, code = http.StatusInternalServerError, http.StatusInternalServerError
	}
	switch rej.Code {
	case contract.CodeUnknownDeployment:
		code = codeInvalidService
	case bus.CodeUnauthorized, bus.CodeForbidden, contract.CodeOriginNotAllowed:
		code = codeNotAuthorized
	case contract.CodeNoActiveSession:
		code, chatEnded = codeChatEnded, true
	case contract.CodeMessageTooLong:
		code = codeMessageTooLong
	case contract.CodeNoAgents:
		code = codeCannotStart
	case bus.CodeRateLimited, bus.CodeUnavailable, bus.CodeTimeout:
		statusCode, code = statusUnavailable, http.StatusServiceUnavailable
	}
	return httpStatus, statusCode, code, chatEnded
}

// GMS error codes used beside the HTTP-like ones (400, 404, 409, 413, 500,
// 501, 503).
const (
	codeFirstName      = 102 // first name required
	codeLastName       = 103 // last name required
	codeName           = 161 // nickname or first and last name required
	codeMaxFiles       = 201 // the chat holds the most files it takes; advice: that number
	codeUploadLimit    = 202 // the file is over the size limit; advice: the limit in bytes
	codeFileType       = 203 // the file's type is not allowed
	codeMessageTooLong = 204
	codeCannotStart    = 240 // cannot start a chat now
	codeChatEnded      = 249 // the chat is over: the request cannot be executed
	codeInvalidService = 306 // no such service (deployment)
	codeInvalidEmail   = 364
	codeNotAuthorized  = 401 // userId, secureKey and alias do not match the chat
)

// Errors of the wire itself.
var (
	errNotAuthorized = bus.Reject(http.StatusUnauthorized, bus.CodeUnauthorized,
		"Cannot authorize the session: userId, secureKey and alias must be those of the chat.")
	errNoChat  = bus.Reject(http.StatusNotFound, bus.CodeNotFound, "Chat session not found.")
	errNoOp    = bus.Reject(http.StatusNotFound, bus.CodeNotFound, "No such operation.")
	errNoFiles = bus.Reject(http.StatusNotImplemented, contract.CodeFilesUnsupported,
		"This transport doesn't support getFileLimits command.")
	errNoDelete = bus.Reject(http.StatusNotImplemented, "unsupported",
		"Deleting files is not supported on this service.")
	errPosition = bus.Reject(http.StatusBadRequest, bus.CodeInvalidRequest, "transcriptPosition must be a whole number.")
)

// gmsError is a rejection with its own GMS code (the name and email checks
// of request chat).
type gmsError struct {
	*bus.Rejection
	code int
}

func (e *gmsError) Unwrap() error { return e.Rejection }

func newGMSError(code int, advice string) *gmsError {
	return &gmsError{Rejection: bus.Reject(http.StatusBadRequest, bus.CodeInvalidRequest, advice), code: code}
}
