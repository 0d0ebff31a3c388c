package engine

import (
	"github.com/cxgate/cxgate/model"
)

// TokenExpired reports whether a visitor token of chat c has expired: the
// chat ended longer ago than its deployment's restore window. A token of an
// open chat never expires; the retention sweep deletes expired ones.
func (e *Engine) TokenExpired(c *model.Chat) bool {
	if c.State != model.StateEnded {
		return false
	}
	restore := e.Config().DeploymentOrDefaults(c.Deployment).RestoreTimeout
	return e.now().UnixMilli() > c.EndedAt+restore.Milliseconds()
}

// Retention is the store's view of a deployment's retention and restore
// window, for the sweep; a deployment no longer configured keeps forever.
func (e *Engine) Retention(deployment string) model.Retention {
	d := e.Config().DeploymentOrDefaults(deployment)
	return model.Retention{Chats: d.Retention.Chats.Duration(), Files: d.Retention.Files.Duration(), Restore: d.RestoreTimeout}
}
