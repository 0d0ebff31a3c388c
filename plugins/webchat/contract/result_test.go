package contract_test

import (
	"encoding/json"
	"testing"

	"github.com/cxgate/cxgate/plugins/webchat/contract"
)

func TestResult(t *testing.T) {
	want := contract.SendResult{Seq: 7, Index: 7, Timestamp: 1700000000000}
	for name, res := range map[string]any{
		"the plugin's value":   want,
		"a pointer to it":      &want,
		"its JSON":             json.RawMessage(`{"seq":7,"index":7,"timestamp":1700000000000}`),
		"its JSON as bytes":    []byte(`{"seq":7,"index":7,"timestamp":1700000000000}`),
		"a map of its members": map[string]any{"seq": 7, "index": 7, "timestamp": 1700000000000},
	} {
		got, err := contract.Result[contract.SendResult](res)
		if err != nil || got != want {
			t.Errorf("%s: %+v, %v", name, got, err)
		}
	}
	if got, err := contract.Result[contract.SendResult](nil); err != nil || got != (contract.SendResult{}) {
		t.Errorf("nil: %+v, %v", got, err)
	}
	if _, err := contract.Result[contract.SendResult](json.RawMessage(`[1]`)); err == nil {
		t.Errorf("an array decoded as a SendResult")
	}
}

// The command names are the plugin's name and the registered name.
func TestLocal(t *testing.T) {
	if got := contract.Local(contract.StartChat); got != "startChat" {
		t.Errorf("Local(StartChat) = %q", got)
	}
	seen := map[string]bool{}
	for _, c := range contract.Commands() {
		if seen[c] {
			t.Errorf("%s listed twice", c)
		}
		seen[c] = true
	}
}
