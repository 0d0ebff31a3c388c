package model

import "time"

// DirectoryKind names one part of the directory: the deployments, queues,
// agents and webhooks that the admin API manages. Each is a bucket.
type DirectoryKind string

// The directory's kinds.
const (
	DirDeployments DirectoryKind = "deployments"
	DirQueues      DirectoryKind = "queues"
	DirAgents      DirectoryKind = "agents"
	DirWebhooks    DirectoryKind = "webhooks"
)

// DirectoryKinds lists every kind of the directory.
var DirectoryKinds = []DirectoryKind{DirDeployments, DirQueues, DirAgents, DirWebhooks}

// Entry is one entry of the directory: its id (a deployment's key, a queue's
// name, an agent's or a webhook's id) and its value, JSON that the store
// keeps as it was given.
type Entry struct {
	ID    string
	Value []byte
}

// Directory is the whole directory: every kind's entries, ordered by id.
type Directory map[DirectoryKind][]Entry

// Empty reports whether d holds no entry at all.
func (d Directory) Empty() bool {
	for _, es := range d {
		if len(es) > 0 {
			return false
		}
	}
	return true
}

// Change is one write's appended events as the change feed records them:
// the chat as of that commit (its identifying and routing fields only) and
// the seqs appended. The events themselves stay in the log.
type Change struct {
	ID    uint64 `json:"-"`    // the row's key: commit order
	Chat  Chat   `json:"chat"` // ID, Deployment, Mode, State, Queue, Thread as committed
	First uint64 `json:"first"`
	Last  uint64 `json:"last"`
}

// Removed counts what a retention sweep or an erasure deleted.
type Removed struct {
	Chats      int   `json:"chats"`
	Events     int   `json:"events"`
	Files      int   `json:"files"`      // files deleted with their chat
	FileBytes  int64 `json:"fileBytes"`  // content deleted, of those and of expired files
	Expired    int   `json:"expired"`    // files whose content expired (their record stays)
	Tokens     int   `json:"tokens"`     // visitor tokens
	Identities int   `json:"identities"` // identity records
	Deliveries int   `json:"deliveries"` // webhook outbox and dead-letter entries
	// LeftMessages counts left messages ("leave a message" forms and their
	// answers) deleted with their identity or past retention.
	LeftMessages int `json:"leftMessages"`
}

// Add adds o to r.
func (r *Removed) Add(o Removed) {
	r.Chats += o.Chats
	r.Events += o.Events
	r.Files += o.Files
	r.FileBytes += o.FileBytes
	r.Expired += o.Expired
	r.Tokens += o.Tokens
	r.Identities += o.Identities
	r.Deliveries += o.Deliveries
	r.LeftMessages += o.LeftMessages
}

// IsZero reports whether nothing was removed.
func (r Removed) IsZero() bool { return r == Removed{} }

// SweepPolicy says what a sweep deletes.
type SweepPolicy struct {
	Now time.Time
	// Retention returns a deployment's retention. It runs inside
	// transactions and must not block.
	Retention func(deployment string) Retention
	// KeepTokens is how many of a chat's newest visitor tokens are kept;
	// older ones are superseded and deleted. 0 means DefaultKeepTokens.
	KeepTokens int
}

// Erasure is what EraseIdentity found and deleted.
type Erasure struct {
	Removed
	ChatIDs []string // the chats deleted
}
