package server

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"

	"github.com/cxgate/cxgate/bus"
)

// ErrBackupBusy refuses a second backup while one is being sent.
var ErrBackupBusy = bus.Reject(http.StatusConflict, "backup_in_progress", "A backup is already being made; retry when it is done.")

// ErrBackupElsewhere refuses a backup of a store on PostgreSQL: the
// database's own tools (pg_dump, a standby, point-in-time recovery) back it up.
var ErrBackupElsewhere = bus.Reject(http.StatusNotImplemented, "backup_elsewhere", "The store is on PostgreSQL: back it up with the database's own tools (pg_dump, a standby).")

// backup copies the store, as of one committed transaction, into a temporary
// file in the data directory and hands it out to be streamed. The copy is
// made at disk speed so that the read transaction it needs is short: bbolt
// cannot grow its mapping while one is open, and a slow client must not
// stall the writer. The file is unlinked at once (nothing is left behind,
// even by a crash) and its space is freed when the stream closes it. One
// backup at a time, so backups cannot fill the disk.
func (s *Server) backup() (io.ReadCloser, int64, error) {
	if s.store == nil {
		return nil, 0, ErrBackupElsewhere
	}
	select {
	case s.backups <- struct{}{}:
	default:
		return nil, 0, ErrBackupBusy
	}
	release := func() { <-s.backups }
	f, err := os.CreateTemp(s.cfg.Data, ".backup-*")
	if err != nil {
		release()
		return nil, 0, fmt.Errorf("server: backup: %w", err)
	}
	if err := os.Remove(f.Name()); err != nil {
		s.logger.Warn("backup: could not unlink its temporary file", "file", f.Name(), "err", err)
	}
	n, err := s.store.Backup(f)
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		release()
		return nil, 0, errors.Join(err, f.Close())
	}
	return &backupFile{File: f, release: release}, n, nil
}

// backupFile frees the backup slot when closed.
type backupFile struct {
	*os.File
	once    sync.Once
	release func()
}

func (b *backupFile) Close() error {
	err := b.File.Close()
	b.once.Do(b.release)
	return err
}
