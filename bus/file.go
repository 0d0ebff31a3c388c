package bus

import "io"

// File is binary content that goes with a command without being JSON: a
// file a client uploads (Call.File) or one a command resolves with (a
// download). Transports that carry bytes send Data as it is; encoded as JSON
// a File is its description only: Data never travels inside a JSON answer.
type File struct {
	ID   string `json:"fileId,omitempty"`
	Name string `json:"name"`
	// Type is the media type: as declared by the client for an upload, as
	// detected from the content for a download ("text/plain; charset=utf-8").
	Type string `json:"type"`
	Size int64  `json:"size"`
	Data []byte `json:"-"`
	// Reader, when set, is the content as a stream of Size bytes, in place
	// of Data: a download read from the store a chunk at a time.
	Reader io.Reader `json:"-"`
	// Staged, for an upload, is the content already written to the store
	// as it arrived, in place of Data: the id of the staged file (the id the
	// file is to have) of Size bytes, the first of them (up to 512) in Head.
	// The command adopts it into a file or leaves it to the transport,
	// which deletes it once the command returned.
	Staged string `json:"-"`
	Head   []byte `json:"-"`
}
