package webchat

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/cxgate/cxgate/bus"
	"github.com/cxgate/cxgate/engine"
	"github.com/cxgate/cxgate/model"
	"github.com/cxgate/cxgate/plugins/internal/filerej"
	"github.com/cxgate/cxgate/plugins/webchat/contract"
)

// FileResult is what sendFile resolves with.
type FileResult = contract.FileResult

// NewFileResult describes the stored FileUploaded event ev.
func NewFileResult(ev model.Event) FileResult {
	var d engine.FileDetails
	_ = json.Unmarshal(ev.Data, &d)
	return FileResult{FileID: d.ID, Name: d.Name, Type: d.Type, Size: d.Size, Seq: ev.Seq, Index: ev.Seq,
		Timestamp: ev.Time, FileDetails: ev.Data}
}

// sendFile stores the file handed over with the call (Call.File; transports
// take it from an upload) in the visitor's chat and announces it with a
// FileUploaded message. Options: requestId (optional: a retry returns the
// first attempt's file).
func (s *Service) sendFile(ctx context.Context, call *bus.Call) (any, error) {
	var o contract.SendFileOptions
	if err := decode(call.Options, &o); err != nil {
		return nil, err
	}
	if len(o.RequestID) > 128 {
		return nil, ErrRequestIDTooLong
	}
	c, err := s.liveSession(ctx, call, ErrNoActiveSession)
	if err != nil {
		return nil, err
	}
	up := engine.Upload{RequestID: o.RequestID}
	if call.File != nil {
		up.Name, up.Content = call.File.Name, call.File.Data
		up.Staged, up.Size, up.Head = call.File.Staged, call.File.Size, call.File.Head
	}
	ev, err := s.engine.SendFile(ctx, c, s.visitorParty(c), up)
	switch {
	case errors.Is(err, engine.ErrEnded), errors.Is(err, engine.ErrNotFound):
		return nil, ErrNoActiveSession
	case errors.Is(err, engine.ErrLocked):
		return nil, ErrLocked
	case err != nil:
		// A file refused while the agent waits for one fails the request.
		s.settleMediaRequest(ctx, c, "", up.Name, engine.MediaErrored)
		if rej := filerej.Upload(err, s.engine.FilePolicy(c.Deployment), up); rej != nil {
			return nil, rej
		}
		return nil, err
	}
	res := NewFileResult(ev)
	s.settleMediaRequest(ctx, c, res.Type, res.Name, engine.MediaSuccess)
	return res, nil
}

// downloadFile resolves with a file of the visitor's chat: a *bus.File, whose
// content transports that carry bytes send as it is (GET /v1/files/{id});
// as JSON it is the file's description. A file of another chat, or one for
// agents only, is not found.
func (s *Service) downloadFile(ctx context.Context, call *bus.Call) (any, error) {
	var o contract.DownloadFileOptions
	if err := decode(call.Options, &o); err != nil {
		return nil, err
	}
	if call.Caller.Kind != bus.KindVisitor {
		return nil, ErrNoActiveSession
	}
	if !s.engine.FilePolicy(call.Caller.Deployment).Enabled {
		return nil, filerej.ErrDownloadsUnsupported
	}
	if o.FileID == "" {
		return nil, ErrNoFileID
	}
	f, err := s.engine.FileInfo(ctx, o.FileID)
	if err != nil {
		return nil, downloadRejection(err)
	}
	if f.ChatID != call.Caller.ID || f.Internal {
		return nil, filerej.ErrFileNotFound
	}
	f, content, err := s.engine.FileReader(ctx, f.ID)
	if err != nil {
		return nil, downloadRejection(err)
	}
	return &bus.File{ID: f.ID, Name: f.Name, Type: f.Type, Size: f.Size, Reader: content}, nil
}

// downloadRejection is the rejection of a file read's error, or the error.
func downloadRejection(err error) error {
	if rej := filerej.Download(err); rej != nil {
		return rej
	}
	return err
}

// FileLimits is what getFileLimits resolves with.
type FileLimits = contract.FileLimits

// getFileLimits tells a page whether it may offer uploads, and within which
// limits: the caller's deployment's policy (a guest's: the command's
// deployment), and the files its chat holds already.
func (s *Service) getFileLimits(ctx context.Context, call *bus.Call) (any, error) {
	pol := s.engine.FilePolicy(call.Caller.Deployment)
	out := FileLimits{Enabled: pol.Enabled, MessageChars: s.engine.Config().Limits.MessageChars}
	if pol.Enabled {
		out.MaxBytes, out.MaxUploads, out.Types = pol.MaxBytes, pol.MaxUploads, pol.Types
	}
	if call.Caller.Kind == bus.KindVisitor {
		c, err := s.engine.Chat(ctx, call.Caller.ID)
		if err != nil && !errors.Is(err, engine.ErrNotFound) {
			return nil, err
		}
		out.Uploads = c.Files
	}
	return out, nil
}
