package store

import "github.com/cxgate/cxgate/model"

// The storage types every backend shares live in package model; these names
// keep the store's callers as they were.
type (
	DirectoryKind = model.DirectoryKind
	Entry         = model.Entry
	Directory     = model.Directory
	Change        = model.Change
	Removed       = model.Removed
	SweepPolicy   = model.SweepPolicy
	Erasure       = model.Erasure
)

// The directory's kinds.
const (
	DirDeployments = model.DirDeployments
	DirQueues      = model.DirQueues
	DirAgents      = model.DirAgents
	DirWebhooks    = model.DirWebhooks
)

// DirectoryKinds lists every kind of the directory.
var DirectoryKinds = model.DirectoryKinds
