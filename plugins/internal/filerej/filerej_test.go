package filerej_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/engine"
	"github.com/cxgate/cxgate/plugins/internal/filerej"
)

// Every file sentinel of the engine, wrapped as the engine wraps it, becomes
// one rejection, the limits' figures taken from the policy and the type from
// the upload; other errors are not file rejections.
func TestUploadAndDownload(t *testing.T) {
	pol := config.Files{Enabled: true, MaxBytes: 1000, MaxUploads: 3, Types: []string{"image/*"}}
	up := engine.Upload{Name: "a.txt", Content: []byte("plain text")}
	wrap := func(err error) error { return fmt.Errorf("%w: detail for the logs", err) }
	for _, tc := range []struct {
		err        error
		status     int
		code, text string
	}{
		{engine.ErrFilesDisabled, 501, "files_unsupported", "This transport doesn't support file uploads."},
		{engine.ErrNoFile, 400, "no_file", "No file provided."},
		{engine.ErrFileTooLarge, 413, "file_too_large", "The file is larger than the limit of 1000 bytes."},
		{engine.ErrFileType, 415, "file_type_not_allowed", "Files of type text/plain are not allowed here; allowed types: image/*."},
		{engine.ErrFileLimit, 409, "file_limit_reached", "The maximum number of files (3) for this chat has been reached."},
		{engine.ErrFileNotFound, 404, "file_not_found", "No such file in this chat."},
		{engine.ErrFileExpired, 410, "file_expired", "This file has expired and is no longer available."},
	} {
		rej := filerej.Upload(wrap(tc.err), pol, up)
		if rej == nil || rej.Status != tc.status || rej.Code != tc.code || rej.Message != tc.text {
			t.Errorf("Upload(%v) = %+v, want %d %s %q", tc.err, rej, tc.status, tc.code, tc.text)
			continue
		}
		if !errors.Is(rej, tc.err) {
			t.Errorf("Upload(%v) does not keep its cause", tc.err)
		}
	}
	// Files off, for a download: the same code in the reference's other text.
	if rej := filerej.Download(wrap(engine.ErrFilesDisabled)); rej == nil || rej.Status != 501 ||
		rej.Code != "files_unsupported" || rej.Message != "This transport doesn't support file download." {
		t.Errorf("Download(files off) = %+v", rej)
	}
	for _, err := range []error{engine.ErrEnded, engine.ErrLocked, errors.New("disk on fire")} {
		if rej := filerej.Upload(err, pol, up); rej != nil {
			t.Errorf("Upload(%v) = %+v, want nil: not about the file", err, rej)
		}
		if rej := filerej.Download(err); rej != nil {
			t.Errorf("Download(%v) = %+v, want nil: not about the file", err, rej)
		}
	}
}
