package agent

import (
	"context"

	"github.com/cxgate/cxgate/bus"
	"github.com/cxgate/cxgate/engine"
	"github.com/cxgate/cxgate/plugins/internal/filerej"
)

// fileRejection turns the engine's errors of reading a file into
// rejections, and the rest as rejectionFor does.
func fileRejection(err error) error {
	if rej := filerej.Download(err); rej != nil {
		return rej
	}
	return rejectionFor(err)
}

// sendFile stores the file handed over with the call (Call.File) in a chat
// the agent is in, as a FileUploaded message: {chatId, requestId}. A silent
// supervisor's file is for agents only, as its messages are.
func (s *Service) sendFile(ctx context.Context, call *bus.Call) (any, error) {
	o, err := s.chatOptions(call)
	if err != nil {
		return nil, err
	}
	if len(o.RequestID) > 128 {
		return nil, ErrRequestIDTooLong
	}
	c, p, err := s.participant(ctx, call, o.ChatID)
	if err != nil {
		return nil, err
	}
	up := engine.Upload{RequestID: o.RequestID, Internal: p.Silent}
	if call.File != nil {
		up.Name, up.Content = call.File.Name, call.File.Data
		up.Staged, up.Size, up.Head = call.File.Staged, call.File.Size, call.File.Head
	}
	ev, err := s.engine.SendFile(ctx, c, engine.PartyOf(p), up)
	if err != nil {
		if rej := filerej.Upload(err, s.engine.FilePolicy(c.Deployment), up); rej != nil {
			return nil, rej
		}
		return nil, rejectionFor(err)
	}
	var d engine.FileDetails
	_ = decode(ev.Data, &d)
	return map[string]any{"chatId": c.ID, "fileId": d.ID, "name": d.Name, "type": d.Type, "size": d.Size,
		"seq": ev.Seq, "index": ev.Seq, "timestamp": ev.Time, "fileDetails": d}, nil
}

// downloadFile resolves with a file (a *bus.File: its bytes over GET
// /v1/files/{id}, its description as JSON) of a chat the agent may read:
// the rule of mayRead, as for getTranscript. {fileId, chatId (optional: then it must be the file's)}.
func (s *Service) downloadFile(ctx context.Context, call *bus.Call) (any, error) {
	var o struct {
		FileID string `json:"fileId"`
		ChatID string `json:"chatId"`
	}
	if err := decode(call.Options, &o); err != nil {
		return nil, err
	}
	if o.FileID == "" {
		return nil, ErrNoFileID
	}
	f, err := s.engine.FileInfo(ctx, o.FileID)
	if err != nil {
		return nil, fileRejection(err)
	}
	if o.ChatID != "" && o.ChatID != f.ChatID {
		return nil, filerej.ErrFileNotFound
	}
	c, err := s.engine.Chat(ctx, f.ChatID)
	if err != nil {
		return nil, fileRejection(err)
	}
	if !s.mayRead(&c, call.Caller.ID) {
		// Not a participant: the file is as unknown as any other.
		return nil, filerej.ErrFileNotFound
	}
	if !s.engine.FilePolicy(c.Deployment).Enabled {
		return nil, filerej.ErrDownloadsUnsupported
	}
	f, content, err := s.engine.FileReader(ctx, f.ID)
	if err != nil {
		return nil, fileRejection(err)
	}
	return &bus.File{ID: f.ID, Name: f.Name, Type: f.Type, Size: f.Size, Reader: content}, nil
}
