package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"runtime/debug"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// ErrDamaged is the family of errors of a store file whose structure is
// broken: Open and CheckFile wrap it, with the file's name and what is wrong.
var ErrDamaged = errors.New("store: the file is damaged")

// DamagedError lists what is wrong with a store file.
type DamagedError struct {
	Path     string
	Problems []string // at least one; the first maxProblems found
}

func (e *DamagedError) Error() string {
	more := ""
	if n := len(e.Problems) - 1; n > 0 {
		more = fmt.Sprintf(" (and %d more problems)", n)
	}
	return fmt.Sprintf("store: %s is damaged: %s%s", e.Path, e.Problems[0], more)
}

// Is makes a DamagedError match ErrDamaged.
func (e *DamagedError) Is(target error) bool { return target == ErrDamaged }

// maxProblems bounds the problems one check lists: a file whose every page
// is garbage gives a readable answer.
const maxProblems = 100

// The bbolt file format (go.etcd.io/bbolt/internal/common), which the walk
// below reads without mapping the file: a page starts with a 16-byte header
// (id uint64, flags uint16, count uint16, overflow uint32); pages 0 and 1
// hold the meta, after the header; branch elements are (pos, ksize uint32,
// pgid uint64), leaf elements (flags, pos, ksize, vsize uint32), pos counted
// from the element itself. Integers are in the machine's byte order.
const (
	pageHeaderSize   = 16
	elementSize      = 16
	branchPageFlag   = 0x01
	leafPageFlag     = 0x02
	metaPageFlag     = 0x04
	freelistPageFlag = 0x10
	bucketLeafFlag   = 0x01
	boltMagic        = 0xED0CDAED
	boltVersion      = 2
	metaSize         = 64
	noFreelist       = ^uint64(0)
	maxTreeDepth     = 64
)

type boltMeta struct {
	pageSize uint32
	root     uint64
	freelist uint64
	pgid     uint64 // high-water mark: pages [0, pgid) are the file's
	txid     uint64
}

// parseMeta reads a meta page's body; ok is false when its magic, version or
// checksum is wrong, as bbolt would reject it.
func parseMeta(b []byte) (m boltMeta, ok bool) {
	if len(b) < metaSize {
		return m, false
	}
	ne := binary.NativeEndian
	if ne.Uint32(b[0:]) != boltMagic || ne.Uint32(b[4:]) != boltVersion {
		return m, false
	}
	h := fnv.New64a()
	h.Write(b[:56])
	if h.Sum64() != ne.Uint64(b[56:]) {
		return m, false
	}
	m = boltMeta{pageSize: ne.Uint32(b[8:]), root: ne.Uint64(b[16:]), freelist: ne.Uint64(b[32:]),
		pgid: ne.Uint64(b[40:]), txid: ne.Uint64(b[48:])}
	return m, m.pageSize >= 512 && m.pageSize <= 1<<20 && m.pageSize&(m.pageSize-1) == 0
}

// walker checks a bbolt file's structure by reading it, never mapping it:
// whatever the bytes say, it fails with a problem, not a fault or a panic.
type walker struct {
	f        io.ReaderAt
	size     int64
	meta     boltMeta
	seen     []uint64 // a bit per page: reached already
	problems []string
	// bufs[d] holds the page being checked at depth d of the walk: a page
	// stays whole while the pages under it are read.
	bufs [][]byte
}

func (w *walker) problem(format string, args ...any) {
	if len(w.problems) < maxProblems {
		w.problems = append(w.problems, fmt.Sprintf(format, args...))
	}
}

func (w *walker) full() bool { return len(w.problems) >= maxProblems }

// CheckFile checks the structure of the store file at path as bbolt will
// read it: a valid meta page, a file as long as the meta says, and every
// page reachable from the root (bucket trees, inline buckets) of the right
// kind, within the file, referenced once, with its elements inside the page
// and its keys in order. It reads each page once and holds one page at a
// time. A damaged file gives a *DamagedError (ErrDamaged); a file it cannot
// read, another error; a missing or empty file is fine (Open creates it).
func CheckFile(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("store: check %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("store: check %s: %w", path, err)
	}
	if st.Size() == 0 {
		return nil
	}
	w := &walker{f: f, size: st.Size()}
	w.check()
	if len(w.problems) > 0 {
		return &DamagedError{Path: path, Problems: w.problems}
	}
	return nil
}

func (w *walker) check() {
	// bbolt takes the page size from meta 0, or the OS's when meta 0 is bad;
	// it uses the valid meta of the newest transaction.
	head := make([]byte, pageHeaderSize+metaSize)
	var metas []boltMeta
	var m0 boltMeta
	ok0 := false
	if _, err := w.f.ReadAt(head, 0); err == nil {
		m0, ok0 = parseMeta(head[pageHeaderSize:])
	}
	ps := int64(os.Getpagesize())
	if ok0 {
		metas = append(metas, m0)
		ps = int64(m0.pageSize)
	}
	if _, err := w.f.ReadAt(head, ps); err == nil {
		if m1, ok := parseMeta(head[pageHeaderSize:]); ok {
			metas = append(metas, m1)
		}
	}
	if len(metas) == 0 {
		w.problem("no valid meta page (pages 0 and 1): not a store file, or both meta pages are damaged")
		return
	}
	w.meta = metas[0]
	for _, m := range metas[1:] {
		if m.txid > w.meta.txid {
			w.meta = m
		}
	}
	ps = int64(w.meta.pageSize)
	if want := int64(w.meta.pgid) * ps; w.meta.pgid > uint64(w.size/ps) || w.size < want {
		w.problem("the file is truncated: it has %d bytes, its meta page says %d pages of %d bytes (%d bytes)",
			w.size, w.meta.pgid, ps, int64(w.meta.pgid)*ps)
		return
	}
	w.seen = make([]uint64, (w.meta.pgid+63)/64)
	if w.meta.freelist != noFreelist {
		if w.meta.freelist < 2 || w.meta.freelist >= w.meta.pgid {
			w.problem("the freelist page %d is outside the file's %d pages", w.meta.freelist, w.meta.pgid)
		} else if p, ok := w.read(w.meta.freelist, 0); ok && flags(p) != freelistPageFlag {
			w.problem("page %d: the freelist page has type %#x", w.meta.freelist, flags(p))
		}
	}
	w.tree(w.meta.root, 0, nil)
}

func flags(p []byte) uint16 { return binary.NativeEndian.Uint16(p[8:]) }

// read reads page id with its overflow pages into the buffer of the given
// depth, or records why it cannot.
func (w *walker) read(id uint64, depth int) ([]byte, bool) {
	ps := int64(w.meta.pageSize)
	if id < 2 || id >= w.meta.pgid {
		w.problem("page %d: referenced but outside the file's pages [2, %d)", id, w.meta.pgid)
		return nil, false
	}
	for len(w.bufs) <= depth {
		w.bufs = append(w.bufs, nil)
	}
	buf := w.bufs[depth]
	if int64(cap(buf)) < ps {
		buf = make([]byte, ps)
	}
	buf = buf[:ps]
	if _, err := w.f.ReadAt(buf, int64(id)*ps); err != nil {
		w.problem("page %d: unreadable: %v", id, err)
		return nil, false
	}
	ne := binary.NativeEndian
	if got := ne.Uint64(buf); got != id {
		w.problem("page %d: its header says page %d", id, got)
		return nil, false
	}
	overflow := uint64(ne.Uint32(buf[12:]))
	if id+overflow >= w.meta.pgid {
		w.problem("page %d: %d overflow pages run past the file's %d pages", id, overflow, w.meta.pgid)
		return nil, false
	}
	if overflow > 0 {
		buf = append(buf, make([]byte, int64(overflow)*ps)...)
		if _, err := w.f.ReadAt(buf[ps:], (int64(id)+1)*ps); err != nil {
			w.problem("page %d: unreadable: %v", id, err)
			return nil, false
		}
	}
	if len(buf) <= 1<<20 { // keep small buffers for the next page
		w.bufs[depth] = buf
	}
	return buf, true
}

// tree checks the bucket tree rooted at page id.
func (w *walker) tree(id uint64, depth int, stack []uint64) {
	if w.full() {
		return
	}
	if depth > maxTreeDepth {
		w.problem("page %d: the tree is deeper than %d levels (stack %v)", id, maxTreeDepth, stack)
		return
	}
	if id < w.meta.pgid && w.seen[id/64]&(1<<(id%64)) != 0 {
		w.problem("page %d: referenced twice (stack %v)", id, stack)
		return
	}
	p, ok := w.read(id, depth)
	if !ok {
		return
	}
	for i := id; i <= id+uint64(binary.NativeEndian.Uint32(p[12:])); i++ { // read checked i < pgid
		w.seen[i/64] |= 1 << (i % 64)
	}
	stack = append(stack, id)
	w.page(id, p, depth, stack)
}

// page checks one branch or leaf page (p holds it whole, overflow included)
// and descends into what it references.
func (w *walker) page(id uint64, p []byte, depth int, stack []uint64) {
	ne := binary.NativeEndian
	fl, count := flags(p), int(ne.Uint16(p[10:]))
	if fl != branchPageFlag && fl != leafPageFlag {
		w.problem("page %d: type %#x where a branch or leaf page belongs (stack %v)", id, fl, stack)
		return
	}
	if pageHeaderSize+count*elementSize > len(p) {
		w.problem("page %d: %d elements do not fit in its %d bytes", id, count, len(p))
		return
	}
	var prev []byte
	for i := 0; i < count && !w.full(); i++ {
		off := pageHeaderSize + i*elementSize
		e := p[off : off+elementSize]
		var key, val []byte
		var child uint64
		var elFlags uint32
		if fl == branchPageFlag {
			pos, ksize := int64(ne.Uint32(e[0:])), int64(ne.Uint32(e[4:]))
			child = ne.Uint64(e[8:])
			if int64(off)+pos+ksize > int64(len(p)) {
				w.problem("page %d: element %d's key lies outside the page", id, i)
				return
			}
			key = p[int64(off)+pos : int64(off)+pos+ksize]
		} else {
			elFlags = ne.Uint32(e[0:])
			pos, ksize, vsize := int64(ne.Uint32(e[4:])), int64(ne.Uint32(e[8:])), int64(ne.Uint32(e[12:]))
			if int64(off)+pos+ksize+vsize > int64(len(p)) {
				w.problem("page %d: element %d's key and value lie outside the page", id, i)
				return
			}
			key = p[int64(off)+pos : int64(off)+pos+ksize]
			val = p[int64(off)+pos+ksize : int64(off)+pos+ksize+vsize]
		}
		if i > 0 && bytes.Compare(prev, key) >= 0 {
			w.problem("page %d: keys out of order at element %d", id, i)
		}
		prev = key
		switch {
		case fl == branchPageFlag:
			w.tree(child, depth+1, stack)
		case elFlags&bucketLeafFlag != 0:
			w.bucket(id, i, val, depth, stack)
		}
	}
}

// bucket checks the sub-bucket stored in leaf element i of page id: its
// tree, or its inline page.
func (w *walker) bucket(id uint64, i int, val []byte, depth int, stack []uint64) {
	if len(val) < 16 {
		w.problem("page %d: element %d is a bucket of %d bytes", id, i, len(val))
		return
	}
	root := binary.NativeEndian.Uint64(val)
	if root != 0 {
		w.tree(root, depth+1, stack)
		return
	}
	inline := val[16:]
	if len(inline) < pageHeaderSize || flags(inline) != leafPageFlag {
		w.problem("page %d: element %d's inline bucket is not a leaf page", id, i)
		return
	}
	// An inline bucket has no sub-buckets of its own; its page is checked
	// as any leaf is.
	w.page(id, inline, depth+1, stack)
}

// openBolt opens the file with bbolt, turning a panic or a memory fault
// inside (bbolt reads the mapped file as it opens: with NoFreelistSync it
// walks every page) into an error naming the file. A panic can leave the
// file open and locked: the process is expected to stop.
func openBolt(path string, o *bolt.Options) (db *bolt.DB, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			db, err = nil, &DamagedError{Path: path, Problems: []string{fmt.Sprint("bbolt failed reading it: ", p)}}
		}
	}()
	return bolt.Open(path, 0o600, o)
}

// Verify checks the file at path in full, for `cxgate check`: the page walk
// of CheckFile, then bbolt's own check (every page reachable or free, none
// both). It opens the file read-only and waits at most timeout for a
// gateway's lock: a running gateway's file cannot be checked (check a
// backup instead).
func Verify(path string, timeout time.Duration) error {
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("store: check %s: %w", path, err)
	}
	if err := CheckFile(path); err != nil {
		return err
	}
	db, err := openBolt(path, &bolt.Options{ReadOnly: true, Timeout: timeout,
		NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if errors.Is(err, berrors.ErrTimeout) {
		return fmt.Errorf("store: check %s: the file is in use (stop the gateway, or check a backup of it)", path)
	}
	if err != nil {
		var de *DamagedError
		if errors.As(err, &de) {
			return err
		}
		return &DamagedError{Path: path, Problems: []string{err.Error()}}
	}
	defer db.Close()
	var problems []string
	err = db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			if len(problems) < maxProblems {
				problems = append(problems, err.Error())
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: check %s: %w", path, err)
	}
	if len(problems) > 0 {
		return &DamagedError{Path: path, Problems: problems}
	}
	return nil
}
