package filerej

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/cxgate/cxgate/bus"
	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/engine"
	"github.com/cxgate/cxgate/plugins/webchat/contract"
)

// Rejections with a fixed text; the limits' texts name the limit.
var (
	// ErrUploadsUnsupported and ErrDownloadsUnsupported are one case (the
	// deployment has files off) in the two texts of the Genesys reference.
	ErrUploadsUnsupported   = bus.Reject(http.StatusNotImplemented, contract.CodeFilesUnsupported, "This transport doesn't support file uploads.")
	ErrDownloadsUnsupported = bus.Reject(http.StatusNotImplemented, contract.CodeFilesUnsupported, "This transport doesn't support file download.")
	ErrNoFile               = bus.Reject(http.StatusBadRequest, contract.CodeNoFile, "No file provided.")
	ErrFileNotFound         = bus.Reject(http.StatusNotFound, contract.CodeFileNotFound, "No such file in this chat.")
	ErrFileExpired          = bus.Reject(http.StatusGone, contract.CodeFileExpired, "This file has expired and is no longer available.")
)

// TooLarge refuses a file over max bytes.
func TooLarge(max int64) *bus.Rejection {
	return bus.Reject(http.StatusRequestEntityTooLarge, contract.CodeFileTooLarge,
		fmt.Sprintf("The file is larger than the limit of %d bytes.", max))
}

// TypeNotAllowed refuses a file whose detected type is not allowed.
func TypeNotAllowed(detected string, allowed []string) *bus.Rejection {
	return bus.Reject(http.StatusUnsupportedMediaType, contract.CodeFileTypeNotAllowed,
		fmt.Sprintf("Files of type %s are not allowed here; allowed types: %s.", detected, strings.Join(allowed, ", ")))
}

// LimitReached refuses a file to a chat that holds max files already.
func LimitReached(max int) *bus.Rejection {
	return bus.Reject(http.StatusConflict, contract.CodeFileLimitReached,
		fmt.Sprintf("The maximum number of files (%d) for this chat has been reached.", max))
}

// Upload turns an error of chat.Engine.SendFile into the rejection the
// client sees, the limits' figures taken from the deployment's policy pol
// and the type from the upload up; nil for an error that is not about the
// file.
func Upload(err error, pol config.Files, up engine.Upload) *bus.Rejection {
	var rej *bus.Rejection
	switch {
	case errors.Is(err, engine.ErrFilesDisabled):
		rej = ErrUploadsUnsupported
	case errors.Is(err, engine.ErrNoFile):
		rej = ErrNoFile
	case errors.Is(err, engine.ErrFileTooLarge):
		rej = TooLarge(pol.MaxBytes)
	case errors.Is(err, engine.ErrFileType):
		rej = TypeNotAllowed(engine.UploadType(up), pol.Types)
	case errors.Is(err, engine.ErrFileLimit):
		rej = LimitReached(pol.MaxUploads)
	default:
		return Download(err)
	}
	return rej.Wrap(err)
}

// Download turns an error of reading a file (chat.Engine.FileInfo,
// FileContent, FileReader) into the rejection the client sees; nil for an
// error that is not about the file.
func Download(err error) *bus.Rejection {
	switch {
	case errors.Is(err, engine.ErrFilesDisabled):
		return ErrDownloadsUnsupported.Wrap(err)
	case errors.Is(err, engine.ErrFileNotFound):
		return ErrFileNotFound.Wrap(err)
	case errors.Is(err, engine.ErrFileExpired):
		return ErrFileExpired.Wrap(err)
	}
	return nil
}

// Rejections lists the file rejections, the limits' with sample figures,
// for the golden table of every plugin's rejections.
func Rejections() map[string]*bus.Rejection {
	return map[string]*bus.Rejection{
		"ErrUploadsUnsupported":   ErrUploadsUnsupported,
		"ErrDownloadsUnsupported": ErrDownloadsUnsupported,
		"ErrNoFile":               ErrNoFile,
		"ErrFileNotFound":         ErrFileNotFound,
		"ErrFileExpired":          ErrFileExpired,
		"TooLarge(204800)":        TooLarge(204800),
		"TypeNotAllowed":          TypeNotAllowed("application/x-executable", []string{"image/*", "text/plain"}),
		"LimitReached(2)":         LimitReached(2),
	}
}
