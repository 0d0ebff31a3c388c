package storetest

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/cxgate/cxgate/model"
)

// Store is what the suite needs of a backend: the methods both backends
// share, with the same signatures.
type Store interface {
	CreateChat(ctx context.Context, n model.NewChat) (c model.Chat, existing bool, err error)
	Mutate(ctx context.Context, id, requestID string, fn model.MutateFunc) (c model.Chat, evs []model.Event, replayed bool, err error)
	Chat(ctx context.Context, id string) (model.Chat, error)
	EventsAfter(ctx context.Context, chatID string, after uint64, limit int) ([]model.Event, error)
	Close() error

	// The directory.
	Directory(ctx context.Context) (model.Directory, error)
	SeedDirectory(ctx context.Context, d model.Directory) (seeded bool, err error)
	ReplaceDirectory(ctx context.Context, d model.Directory) error
	PutEntry(ctx context.Context, kind model.DirectoryKind, id string, value []byte) error
	DeleteEntry(ctx context.Context, kind model.DirectoryKind, id string) error

	// The change feed and the outbox it fills.
	SetChangeFeed(on bool)
	ChangeFeedSignal() <-chan struct{}
	Changes(ctx context.Context, limit int) (out []model.Change, events [][]model.Event, err error)
	ConsumeChanges(ctx context.Context, through uint64, entries []model.OutboxEntry) error
	PendingOutbox(ctx context.Context, now time.Time, want func(subscription string) int) (due []model.OutboxEntry, next time.Time, err error)
	ListOutbox(ctx context.Context, state model.OutboxState, after uint64, limit int) ([]model.OutboxEntry, error)
	OutboxEntryByID(ctx context.Context, id uint64) (model.OutboxEntry, model.OutboxState, error)
	OutboxDepth(ctx context.Context) (pending, dead int, err error)
	UpdateOutbox(ctx context.Context, e model.OutboxEntry) error
	DeleteOutbox(ctx context.Context, id uint64) error
	MoveToDead(ctx context.Context, e model.OutboxEntry) error
	RetryDead(ctx context.Context, id uint64, now time.Time) (model.OutboxEntry, error)
	RetryAllDead(ctx context.Context, now time.Time, limit int) (int, error)
	PruneDead(ctx context.Context, deadBefore time.Time, keep int) (int, error)

	// Left messages.
	LeaveMessage(ctx context.Context, m model.LeftMessage, idn *model.Identity, outbox []model.OutboxEntry) error
	AnswerMessage(ctx context.Context, id string, a model.Answer, outbox func(model.LeftMessage) []model.OutboxEntry) (model.LeftMessage, error)
	LeftMessage(ctx context.Context, id string) (model.LeftMessage, error)
	LeftMessages(ctx context.Context, answered bool, limit int) ([]model.LeftMessage, error)
	LeftMessagesOf(ctx context.Context, identityID string, limit int) ([]model.LeftMessage, error)

	// Files and staged uploads.
	AddFile(ctx context.Context, chatID, requestID string, f model.File, content []byte, fn model.MutateFunc) (model.Chat, []model.Event, bool, error)
	AddStagedFile(ctx context.Context, chatID, requestID string, f model.File, fn model.MutateFunc) (model.Chat, []model.Event, bool, error)
	FileInfo(ctx context.Context, id string) (model.File, error)
	FileContent(ctx context.Context, id string) (f model.File, content []byte, err error)
	FileReader(f model.File) io.Reader
	StageFile(ctx context.Context) (Staged, error)
	StagedCount() (files, chunks int, err error)
	SweepStaged(ctx context.Context, before time.Time) (int, error)

	// Identities, tokens and agents' statuses.
	PutIdentity(ctx context.Context, idn model.Identity) error
	Identity(ctx context.Context, id string) (model.Identity, error)
	ChatsOfIdentity(ctx context.Context, identityID string) ([]model.Chat, error)
	AgentStatuses(ctx context.Context) (map[string]model.AgentStatus, error)
	SetAgentStatus(ctx context.Context, agentID string, status model.AgentStatus) error
	OpenChats(ctx context.Context, fn func(model.Chat) error) error
	IssueToken(ctx context.Context, hash []byte, t model.Token) error
	LookupToken(ctx context.Context, hash []byte) (model.Token, error)

	// Sweeps and erasure.
	SweepChats(ctx context.Context, p model.SweepPolicy, after string, scan int) (next string, removed model.Removed, err error)
	ExpireFiles(ctx context.Context, p model.SweepPolicy, after string, scan int) (next string, removed model.Removed, err error)
	SweepLeftMessages(ctx context.Context, p model.SweepPolicy, after string, scan int) (next string, removed model.Removed, err error)
	EraseIdentity(ctx context.Context, id string, notices func(model.Erasure) []model.OutboxEntry) (model.Erasure, error)
}

// Staged is a file's content being staged (each backend's *StagedFile,
// which StageFile returns as its own type: a caller's adapter wraps it).
type Staged interface {
	io.Writer
	ID() string
	Size() int64
	Head() []byte
	Close() error
	Discard(ctx context.Context) error
}

// Backend is a backend under test.
type Backend struct {
	// Open opens the store whose data is in dir (created by the suite,
	// empty the first time), or reopens it after Close. It fails t when
	// it cannot, and closes the store when t ends.
	Open func(t testing.TB, dir string) Store
	// ErrUnknownKind is the backend's error for a directory kind it does
	// not know.
	ErrUnknownKind error
	// FileChunk is the size of the chunks the backend stores files in,
	// StagedTTL how long a staged file is kept, ErrNotStaged its error for
	// content that is not (or no longer) staged.
	FileChunk    int
	StagedTTL    time.Duration
	ErrNotStaged error
	// FileChunks counts the chunks stored under file (or staged file) id,
	// which the interface cannot see: what a discard or a sweep leaves.
	FileChunks func(s Store, id string) (int, error)
	// KeepTokens is how many visitor tokens the backend's chat sweep keeps
	// of a chat (its DefaultKeepTokens).
	KeepTokens int
	// Shared says several stores may have one dir open at once, as
	// gateways sharing a database do; the concurrency tests then write
	// through two.
	Shared bool
	// SweptChats and SweptLeftMessages, when set, check the backend's
	// storage (its tables or buckets) after the chat and left-message sweep
	// tests: that nothing of what they deleted is left behind, which the
	// interface cannot see.
	SweptChats, SweptLeftMessages func(t testing.TB, s Store)
}

// Run runs the whole suite against b.
func Run(t *testing.T, b Backend) {
	for _, tc := range []struct {
		name string
		run  func(*testing.T, Backend)
	}{
		{"IdentitiesAndTokens", testIdentitiesAndTokens},
		{"OpenChats", testOpenChats},
		{"AgentStatuses", testAgentStatuses},
		{"Directory_Seed", testDirectorySeed},
		{"Directory_PutDelete", testDirectoryPutDelete},
		{"Directory_Replace", testDirectoryReplace},
		{"Directory_ConcurrentWrites", testDirectoryConcurrentWrites},
		{"Outbox_WrittenWithEvents", testOutboxWrittenWithEvents},
		{"PendingOutbox_DueOrder", testPendingOutboxDueOrder},
		{"Outbox_Lifecycle", testOutboxLifecycle},
		{"RetryAllDead", testRetryAllDead},
		{"ListOutbox_Pages", testListOutboxPages},
		{"Outbox_Reopen", testOutboxReopen},
		{"Outbox_ConcurrentWriters", testOutboxConcurrentWriters},
		{"PruneDead", testPruneDead},
		{"PendingOutbox_PerSubscription", testPendingOutboxPerSubscription},
		{"LeftMessages_Order", testLeftMessagesOrder},
		{"AddFile", testAddFile},
		{"FileChunks", testFileChunks},
		{"StagedFile_Adopted", testStagedFileAdopted},
		{"StagedFile_Large", testStagedFileLarge},
		{"StagedFile_DiscardedRefusesWrites", testStagedFileDiscardedRefusesWrites},
		{"SweepStaged", testSweepStaged},
		{"StagedFile_Empty", testStagedFileEmpty},
		{"StagedFile_DiscardRacesAdoption", testStagedFileDiscardRacesAdoption},
		{"SweepChats", testSweepChats},
		{"SweepChats_Steps", testSweepChatsSteps},
		{"EraseIdentity", testEraseIdentity},
		{"LeftMessages_Lifecycle", testLeftMessagesLifecycle},
		{"EraseIdentity_ConcurrentLeave", testEraseIdentityConcurrentLeave},
		{"EraseIdentity_ChangeConsumedAfter", testEraseIdentityChangeConsumedAfter},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, b) })
	}
}

// open opens a fresh store and returns it with its directory, to reopen it.
func open(t testing.TB, b Backend) (Store, string) {
	t.Helper()
	dir := t.TempDir()
	return b.Open(t, dir), dir
}

// openOutbox opens a fresh store with the change feed on.
func openOutbox(t testing.TB, b Backend) (Store, string) {
	t.Helper()
	s, dir := open(t, b)
	s.SetChangeFeed(true)
	return s, dir
}

// reopen opens the store in dir again (after its Close).
func reopen(t testing.TB, b Backend, dir string) Store {
	t.Helper()
	return b.Open(t, dir)
}

func message(text string) model.Event {
	return model.Event{Type: model.EventMessage, From: model.Party{ID: "v", Type: model.PartyClient}, Text: text, Time: 1}
}

// appendFn returns a MutateFunc that appends evs.
func appendFn(evs ...model.Event) model.MutateFunc {
	return func(*model.Chat) ([]model.Event, error) { return evs, nil }
}

// chat is a new live chat on deployment d with a visitor's join, started
// with startKey.
func chat(id, startKey string) model.NewChat {
	return model.NewChat{
		Chat:     model.Chat{ID: id, Deployment: "d", Mode: "live", State: model.StateQueued, CreatedAt: 1_700_000_000_000},
		StartKey: startKey,
		Events:   []model.Event{{Type: model.EventParticipantJoined, From: model.Party{ID: "v", Type: model.PartyClient}, Time: 1_700_000_000_000}},
	}
}

func mustCreateChat(t testing.TB, s Store, id string) {
	t.Helper()
	if _, _, err := s.CreateChat(context.Background(), chat(id, "")); err != nil {
		t.Fatalf("create chat %s: %v", id, err)
	}
}
