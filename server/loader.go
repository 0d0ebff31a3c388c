package server

import (
	"encoding/json"
	"sync"

	"github.com/cxgate/cxgate/config"
	"github.com/cxgate/cxgate/model"
)

// loaderConfig is what a deployment's loader publishes to the browser as
// window._cxgate.proactive (docs/proactive.md).
type loaderConfig struct {
	Deployment  string            `json:"deployment"`
	Gateway     string            `json:"gateway"`
	Mode        model.Mode        `json:"mode"`
	Enabled     bool              `json:"enabled"`
	Maintenance bool              `json:"maintenance"`
	Reason      string            `json:"reason"`
	Display     config.Display    `json:"display"`
	Variables   []config.Variable `json:"variables"`
	Triggers    []config.Trigger  `json:"triggers"`
	Items       []config.Item     `json:"items"`
}

// loaders builds and keeps the loaders' configuration JSON, for the
// configuration in force: an admin change (a new snapshot) empties it, so
// the next loader fetched carries the change.
type loaders struct {
	config func() *config.Config

	mu   sync.Mutex
	cfg  *config.Config
	json map[[2]string][]byte // by deployment and gateway origin
}

// maxLoaders bounds the cache: the gateway origin comes from the request's
// Host when no public URL is set, so clients choose it.
const maxLoaders = 256

// get is the gateway's Config.Loader.
func (l *loaders) get(deployment, gateway string) ([]byte, bool) {
	cfg := l.config()
	k := [2]string{deployment, gateway}
	l.mu.Lock()
	if l.cfg != cfg {
		l.cfg, l.json = cfg, map[[2]string][]byte{}
	}
	b, ok := l.json[k]
	l.mu.Unlock()
	if ok {
		return b, true
	}
	d, ok := cfg.Deployment(deployment)
	if !ok {
		return nil, false
	}
	lc := loaderConfig{Deployment: d.Key, Gateway: gateway, Mode: d.Mode, Enabled: d.IsEnabled(),
		Maintenance: d.Maintenance, Display: d.Display,
		Variables: []config.Variable{}, Triggers: []config.Trigger{}, Items: []config.Item{}}
	if d.Maintenance {
		lc.Reason = d.MaintenanceReason
	}
	if d.LoaderActive() {
		// A switched-off deployment publishes nothing more than that.
		lc.Variables = append(lc.Variables, d.Variables...)
		lc.Triggers = append(lc.Triggers, d.Triggers...)
		lc.Items = append(lc.Items, d.Items...)
	}
	b, err := json.Marshal(lc)
	if err != nil {
		return nil, false
	}
	l.mu.Lock()
	if l.cfg == cfg && len(l.json) < maxLoaders {
		l.json[k] = b
	}
	l.mu.Unlock()
	return b, true
}
