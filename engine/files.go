package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/internal/mediatype"
	"github.com/cxgate/cxgate/model"
)

// FileDetails is the data of a FileUploaded event, in Genesys' shape: what
// messages carry as fileDetails.
type FileDetails struct {
	Name string `json:"file-name"`
	Size int64  `json:"file-size"`
	ID   string `json:"file-id"`
	Type string `json:"file-type"` // the media type detected from the content, without parameters
}

// Upload is a file a participant sends to a chat.
type Upload struct {
	Name    string // as the client named it; SendFile cleans it
	Content []byte // belongs to the engine from now on
	// Staged, in place of Content, is the id of content already written to
	// the store as it arrived (store.StagedFile), of Size bytes, the first
	// of them in Head: SendFile adopts it as the file's, under that id.
	Staged    string
	Size      int64
	Head      []byte
	RequestID string // the client's retry key; "" for none
	Internal  bool   // for agents only (a silent supervisor's)
}

func (up Upload) size() int64 {
	if up.Staged != "" {
		return up.Size
	}
	return int64(len(up.Content))
}

// head is the start of the content: at least the 512 bytes a type is
// detected from, when there are as many.
func (up Upload) head() []byte {
	if up.Staged != "" {
		return up.Head
	}
	return up.Content
}

// UploadType is the media type detected from an upload's content, without
// parameters: what SendFile checks against the deployment's files.types
// (and names in an ErrFileType).
func UploadType(up Upload) string {
	_, base := DetectType(up.head())
	return base
}

// FilePolicy is the file policy of a deployment; an unknown deployment takes
// no files.
func (e *Engine) FilePolicy(deployment string) config.Files {
	d, ok := e.Config().Deployment(deployment)
	if !ok {
		return config.Files{}
	}
	return d.Files
}

// SendFile checks an upload against the policy of chat c's deployment (files
// enabled, size, type detected from the content, uploads per chat), stores
// it and appends its FileUploaded event, in one write. In an asynchronous
// chat it keeps the thread rule and the lock as Append does. It returns the
// event as stored; a retried RequestID returns the first attempt's.
func (e *Engine) SendFile(ctx context.Context, c model.Chat, from model.Party, up Upload) (model.Event, error) {
	pol := e.FilePolicy(c.Deployment)
	if !pol.Enabled {
		return model.Event{}, fmt.Errorf("%w: deployment %q", ErrFilesDisabled, c.Deployment)
	}
	size, head := up.size(), up.head()
	if size == 0 {
		return model.Event{}, ErrNoFile
	}
	if size > pol.MaxBytes {
		return model.Event{}, fmt.Errorf("%w: %d bytes, the limit is %d", ErrFileTooLarge, size, pol.MaxBytes)
	}
	// DetectContentType reads the first 512 bytes: Head holds them.
	full, base := DetectType(head)
	if !TypeAllowed(base, pol.Types) {
		return model.Event{}, fmt.Errorf("%w: %s", ErrFileType, base)
	}
	now := e.now().UnixMilli()
	id := newID()
	if up.Staged != "" {
		id = up.Staged
	}
	f := model.File{ID: id, Size: size, Name: FileNameForType(CleanFileName(up.Name), base), Type: full, From: from, Time: now, Internal: up.Internal}
	details, err := json.Marshal(FileDetails{Name: f.Name, Size: size, ID: f.ID, Type: base})
	if err != nil {
		return model.Event{}, err
	}
	ev := model.Event{Type: model.EventFileUploaded, From: from, Text: f.Name, Time: now, Data: details,
		Internal: up.Internal}
	mutate := func(c *model.Chat) ([]model.Event, error) {
		if c.State == model.StateEnded {
			return nil, ErrEnded
		}
		if int(c.Files) >= pol.MaxUploads {
			return nil, fmt.Errorf("%w: %d files", ErrFileLimit, pol.MaxUploads)
		}
		if c.Mode != config.ModeAsync {
			return []model.Event{ev}, nil
		}
		fromVisitor := from.Type == model.PartyClient
		if c.Locked && fromVisitor {
			return nil, ErrLocked
		}
		out := e.threadEvents(c, now)
		if c.State == model.StateIdle && fromVisitor {
			c.State = model.StateQueued
		}
		return append(out, ev), nil
	}
	var evs []model.Event
	if up.Staged != "" {
		_, evs, _, err = e.log.AddStagedFile(ctx, c.ID, up.RequestID, f, mutate)
	} else {
		_, evs, _, err = e.log.AddFile(ctx, c.ID, up.RequestID, f, up.Content, mutate)
	}
	if errors.Is(err, model.ErrNotFound) {
		return model.Event{}, ErrNotFound
	}
	if err != nil {
		return model.Event{}, err
	}
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Type == model.EventFileUploaded {
			return evs[i], nil
		}
	}
	return model.Event{}, fmt.Errorf("chat: send file to %s: nothing appended", c.ID)
}

// FileInfo reads a file's description; ErrFileNotFound if unknown.
func (e *Engine) FileInfo(ctx context.Context, fileID string) (model.File, error) {
	f, err := e.log.FileInfo(ctx, fileID)
	if errors.Is(err, model.ErrNotFound) {
		return f, ErrFileNotFound
	}
	f.Name = storedFileName(f)
	return f, err
}

// FileContent reads a file with its content; ErrFileNotFound if unknown.
// Check access with FileInfo first: this reads the whole content.
func (e *Engine) FileContent(ctx context.Context, fileID string) (model.File, []byte, error) {
	f, data, err := e.log.FileContent(ctx, fileID)
	switch {
	case errors.Is(err, model.ErrNotFound):
		return f, nil, ErrFileNotFound
	case errors.Is(err, model.ErrExpired):
		return f, nil, ErrFileExpired
	}
	f.Name = storedFileName(f)
	return f, data, err
}

// FileReader reads a file's description and returns its content as a
// stream read a chunk at a time: a download holds one chunk, not the file.
// ErrFileNotFound if unknown, ErrFileExpired if retention deleted the content.
func (e *Engine) FileReader(ctx context.Context, fileID string) (model.File, io.Reader, error) {
	f, err := e.FileInfo(ctx, fileID)
	if err != nil {
		return f, nil, err
	}
	if f.Expired != 0 {
		return f, nil, ErrFileExpired
	}
	return f, e.log.FileReader(f), nil
}

// DetectType sniffs content as http.DetectContentType does: full is the
// media type with its parameters ("text/plain; charset=utf-8"), base without
// them, in lower case ("text/plain").
func DetectType(content []byte) (full, base string) {
	full = http.DetectContentType(content)
	base, _, _ = strings.Cut(full, ";")
	return full, strings.ToLower(strings.TrimSpace(base))
}

// TypeAllowed reports whether media type base is in the allowlist; an entry
// "image/*" allows every image type.
func TypeAllowed(base string, allowed []string) bool {
	for _, a := range allowed {
		a = strings.ToLower(strings.TrimSpace(a))
		if a == base {
			return true
		}
		if prefix, ok := strings.CutSuffix(a, "/*"); ok && strings.HasPrefix(base, prefix+"/") {
			return true
		}
	}
	return false
}

// maxFileName bounds a file name, in bytes.
const maxFileName = 255

// CleanFileName makes a client's file name safe to store and show: the last
// path element only, valid UTF-8 without control or bidi-format characters,
// at most 255 bytes; "file" when nothing is left. It is still text from a
// stranger: render it as text, never as HTML.
func CleanFileName(name string) string {
	name = strings.ToValidUTF8(name, "_")
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return -1
		}
		return r
	}, name)
	name = strings.TrimSpace(name)
	for len(name) > maxFileName {
		_, size := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-size]
	}
	name = strings.TrimSpace(name)
	if name == "" || name == "." || name == ".." {
		return "file"
	}
	return name
}

// storedFileName is the name a stored file is downloaded under. Files stored
// before names followed their type are renamed on the way out, so no wire
// ever offers one under a name its content does not have.
func storedFileName(f model.File) string {
	if f.Name == "" {
		return f.Name
	}
	base, _, _ := strings.Cut(f.Type, ";")
	return FileNameForType(f.Name, strings.ToLower(strings.TrimSpace(base)))
}

// FileNameForType makes a cleaned file name's extension the one of the media
// type detected from its content, so that a download never lands on a disk
// as something the operating system would run or a browser render
// differently from what was checked (update.hta, setup.js or report.html
// with text content become update.txt, setup.txt and report.txt).
//
// The rule: the name's last extension, compared without case, is kept when
// it is one of the type's (photo.JPG for image/jpeg); else trailing dots and
// spaces (which Windows ignores: "x.bat." runs as x.bat) and the last
// extension are dropped, and the rest is kept if its own extension is one of
// the type's (invoice.pdf.bat with PDF content becomes invoice.pdf); else
// the type's first extension is appended (notes.exe with text becomes
// notes.txt, archive.tar.bat with text becomes archive.tar.txt). A type
// without a known extension takes ".bin"; a name left empty is "file".
// The result stays within 255 bytes.
func FileNameForType(name, base string) string {
	exts := TypeExtensions(base)
	if len(exts) == 0 {
		exts = []string{"bin"}
	}
	if hasExt(name, exts) {
		return name
	}
	stem := strings.TrimRight(name, ". ")
	if i := strings.LastIndexByte(stem, '.'); i >= 0 {
		stem = strings.TrimRight(stem[:i], ". ")
	}
	if stem != "" && hasExt(stem, exts) {
		return stem
	}
	suffix := "." + exts[0]
	for len(stem)+len(suffix) > maxFileName {
		_, size := utf8.DecodeLastRuneInString(stem)
		stem = stem[:len(stem)-size]
	}
	if strings.TrimSpace(stem) == "" {
		stem = "file"
	}
	return stem + suffix
}

// hasExt reports whether name's last extension is one of exts, without case.
func hasExt(name string, exts []string) bool {
	i := strings.LastIndexByte(name, '.')
	if i <= 0 {
		return false
	}
	for _, e := range exts {
		if strings.EqualFold(name[i+1:], e) {
			return true
		}
	}
	return false
}

// TypeExtensions are the file extensions of a media type (without
// parameters, lower case), the usual one first; nil for a type without one.
func TypeExtensions(base string) []string { return mediatype.Extensions(base) }
