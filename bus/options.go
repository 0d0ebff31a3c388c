package bus

import (
	"bytes"
	"encoding/json"
	"net/http"
)

// ErrInvalidOptions rejects options that are not the JSON object a command
// takes.
var ErrInvalidOptions = Reject(http.StatusBadRequest, CodeInvalidRequest, "The options are not a valid JSON object.")

// DecodeOptions decodes a command's options into v. Absent or null options
// leave v as it is.
func DecodeOptions(opts []byte, v any) error {
	opts = bytes.TrimSpace(opts)
	if len(opts) == 0 || string(opts) == "null" {
		return nil
	}
	if err := json.Unmarshal(opts, v); err != nil {
		return ErrInvalidOptions.Wrap(err)
	}
	return nil
}

// EncodeResult encodes a handler's result for a wire: json.RawMessage and
// []byte as they are, nil as {}, anything else as JSON.
func EncodeResult(res any) ([]byte, error) {
	switch v := res.(type) {
	case json.RawMessage:
		return v, nil
	case []byte:
		return v, nil
	case nil:
		return []byte("{}"), nil
	}
	data, err := json.Marshal(res)
	if err != nil {
		return nil, ErrInternal.Wrap(err)
	}
	return data, nil
}
