package contract

import (
	"encoding/json"
	"fmt"
)

// Result is a command's result as T. An in-process caller gets the plugin's
// own value, taken as it is; a result of another kind (encoded JSON, a map
// from an older handler) is decoded from its JSON.
func Result[T any](res any) (T, error) {
	switch v := res.(type) {
	case T:
		return v, nil
	case *T:
		if v != nil {
			return *v, nil
		}
	}
	var out T
	var data []byte
	switch v := res.(type) {
	case json.RawMessage:
		data = v
	case []byte:
		data = v
	case nil:
		return out, nil
	default:
		var err error
		if data, err = json.Marshal(res); err != nil {
			return out, fmt.Errorf("contract: encode %T: %w", res, err)
		}
	}
	if err := json.Unmarshal(data, &out); err != nil {
		return out, fmt.Errorf("contract: decode %T as %T: %w", res, out, err)
	}
	return out, nil
}
