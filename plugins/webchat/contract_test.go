package webchat_test

import (
	"slices"
	"testing"

	"github.com/cxgate/cxgate/plugins/webchat/contract"
	"github.com/cxgate/cxgate/server/servertest"
)

// The contract names every command the plugin registers, and nothing else:
// a wire that calls contract.X calls a command that exists.
func TestContractNamesTheRegisteredCommands(t *testing.T) {
	gw := servertest.Start(t, servertest.Options{})
	registered := gw.Bus().Registry()[contract.Service].Commands
	var named []string
	for _, c := range contract.Commands() {
		named = append(named, contract.Local(c))
	}
	slices.Sort(registered)
	slices.Sort(named)
	if !slices.Equal(registered, named) {
		t.Errorf("registered %v\ncontract names %v", registered, named)
	}
}
