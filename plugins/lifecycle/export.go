package lifecycle

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/url"
	"strconv"

	"github.com/cxgate/cxgate/bus"
	"github.com/cxgate/cxgate/engine"
	"github.com/cxgate/cxgate/model"
	"github.com/cxgate/cxgate/plugins/internal/filerej"
)

// Export is the document exportIdentity resolves with: everything kept
// about one visitor.
type Export struct {
	ExportedAt    int64           `json:"exportedAt"`    // unix ms
	LinksExpireAt int64           `json:"linksExpireAt"` // unix ms: the files' URLs stop working then
	Identity      *model.Identity `json:"identity"`      // null when only chats are left of it
	Chats         []ExportedChat  `json:"chats"`
	// LeftMessages are the messages the identity left ("leave a message"
	// forms), oldest first, each with its answer and visit context.
	LeftMessages []model.LeftMessage `json:"leftMessages"`
}

// ExportedChat is one chat of an export.
type ExportedChat struct {
	Chat       model.Chat     `json:"chat"`
	Transcript []model.Event  `json:"transcript"` // every stored event, oldest first; internal ones flagged
	Truncated  bool           `json:"truncated,omitempty"`
	Files      []ExportedFile `json:"files"`
}

// ExportedFile is a file's description with a download link.
type ExportedFile struct {
	model.File
	// URL downloads the file without a token until LinksExpireAt: a path
	// on the gateway, GET /v1/files/{id}?expires=…&sig=…. Empty when the
	// content expired.
	URL string `json:"url,omitempty"`
}

// maxExportEvents bounds one chat's transcript in an export.
const maxExportEvents = 100_000

// maxExportLeft bounds the left messages in an export (the newest are
// kept): leaveMessage's rate limit and open-message cap keep one identity's
// far below it.
const maxExportLeft = 10_000

func (s *Service) export(ctx context.Context, call *bus.Call) (any, error) {
	var o struct {
		IdentityID string `json:"identityId"`
	}
	if err := bus.DecodeOptions(call.Options, &o); err != nil {
		return nil, err
	}
	if o.IdentityID == "" {
		return nil, ErrNeedID
	}
	now := s.opts.Now()
	out := Export{ExportedAt: now.UnixMilli(), Chats: []ExportedChat{}}
	expires := now.Add(s.opts.LinkTTL).Unix()
	out.LinksExpireAt = expires * 1000
	idn, err := s.st.Identity(ctx, o.IdentityID)
	switch {
	case err == nil:
		out.Identity = &idn
	case !errors.Is(err, model.ErrNotFound):
		return nil, err
	}
	chats, err := s.st.ChatsOfIdentity(ctx, o.IdentityID)
	if err != nil {
		return nil, err
	}
	if out.LeftMessages, err = s.st.LeftMessagesOf(ctx, o.IdentityID, maxExportLeft); err != nil {
		return nil, err
	}
	if out.Identity == nil && len(chats) == 0 && len(out.LeftMessages) == 0 {
		return nil, ErrNoIdentity
	}
	for _, c := range chats {
		ec := ExportedChat{Chat: c, Transcript: []model.Event{}, Files: []ExportedFile{}}
		for after := uint64(0); ; {
			evs, err := s.st.EventsAfter(ctx, c.ID, after, 1000)
			if errors.Is(err, model.ErrNotFound) {
				break // deleted meanwhile
			}
			if err != nil {
				return nil, err
			}
			for _, ev := range evs {
				if len(ec.Transcript) == maxExportEvents {
					ec.Truncated = true
					break
				}
				ec.Transcript = append(ec.Transcript, ev)
				if ev.Type == model.EventFileUploaded {
					if f, ok := s.exportedFile(ctx, ev, expires); ok {
						ec.Files = append(ec.Files, f)
					}
				}
			}
			if len(evs) < 1000 || ec.Truncated {
				break
			}
			after = evs[len(evs)-1].Seq
		}
		out.Chats = append(out.Chats, ec)
	}
	return out, nil
}

// exportedFile describes the file of a FileUploaded event, with a link.
func (s *Service) exportedFile(ctx context.Context, ev model.Event, expires int64) (ExportedFile, bool) {
	var d engine.FileDetails
	if json.Unmarshal(ev.Data, &d) != nil || d.ID == "" {
		return ExportedFile{}, false
	}
	f, err := s.st.FileInfo(ctx, d.ID)
	if err != nil {
		return ExportedFile{}, false
	}
	ef := ExportedFile{File: f}
	if f.Expired == 0 {
		ef.URL = "/v1/files/" + url.PathEscape(f.ID) + "?expires=" + strconv.FormatInt(expires, 10) +
			"&sig=" + s.sign(f.ID, expires)
	}
	return ef, true
}

// sign is the signature of a download link for file id until expires
// (unix seconds).
func (s *Service) sign(id string, expires int64) string {
	m := hmac.New(sha256.New, s.opts.LinkKey)
	m.Write([]byte("cxgate file link\x00" + id + "\x00" + strconv.FormatInt(expires, 10)))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// download serves a signed link of an export: the signature is the
// authority, so any caller may use it until it expires.
func (s *Service) download(ctx context.Context, call *bus.Call) (any, error) {
	var o struct {
		FileID  string `json:"fileId"`
		Expires string `json:"expires"`
		Sig     string `json:"sig"`
	}
	if err := bus.DecodeOptions(call.Options, &o); err != nil {
		return nil, err
	}
	expires, err := strconv.ParseInt(o.Expires, 10, 64)
	if err != nil || o.FileID == "" || len(o.FileID) > 128 ||
		!hmac.Equal([]byte(o.Sig), []byte(s.sign(o.FileID, expires))) {
		return nil, ErrLinkInvalid
	}
	if s.opts.Now().Unix() > expires {
		return nil, ErrLinkExpired
	}
	f, data, err := s.engine.FileContent(ctx, o.FileID)
	if err != nil {
		if rej := filerej.Download(err); rej != nil {
			return nil, rej
		}
		return nil, err
	}
	return &bus.File{ID: f.ID, Name: f.Name, Type: f.Type, Size: f.Size, Data: data}, nil
}
