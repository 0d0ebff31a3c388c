package model

import "bytes"

// SniffBytes is how many first bytes of a file are kept to detect its
// type: all http.DetectContentType reads.
const SniffBytes = 512

// ChunkWriter cuts what is written into chunks of ChunkSize bytes and hands
// each full one to Flush as it fills, and the last one (possibly empty: an
// empty file is one empty chunk) on Close: a writer that holds one chunk
// in memory, whatever the size of the file. It keeps the file's first
// SniffBytes for Head. Each store's staged upload is one, with its own
// Flush. A ChunkWriter is used by one goroutine.
type ChunkWriter struct {
	ChunkSize int
	// Flush writes chunk n (from 0); the chunk's bytes are reused once it
	// returns. An error ends the writer: every later Write and Close
	// returns it.
	Flush func(n uint32, chunk []byte) error

	buf  []byte // the chunk being filled; nil until the first Write
	n    uint32 // chunks flushed
	size int64
	head []byte
	err  error
}

// Size is the number of bytes written.
func (w *ChunkWriter) Size() int64 { return w.size }

// Head is a copy of the first bytes written, up to SniffBytes.
func (w *ChunkWriter) Head() []byte { return bytes.Clone(w.head) }

// Write buffers p and flushes every chunk it fills.
func (w *ChunkWriter) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if h := min(len(p), SniffBytes-len(w.head)); h > 0 {
		w.head = append(w.head, p[:h]...)
	}
	if w.buf == nil {
		w.buf = make([]byte, 0, w.ChunkSize)
	}
	written := 0
	for len(p) > 0 {
		k := min(len(p), w.ChunkSize-len(w.buf))
		w.buf = append(w.buf, p[:k]...)
		p, written, w.size = p[k:], written+k, w.size+int64(k)
		if len(w.buf) == w.ChunkSize {
			if err := w.flush(); err != nil {
				return written, err
			}
		}
	}
	return written, nil
}

// Close flushes the last chunk: what is buffered, or an empty chunk when
// nothing was flushed.
func (w *ChunkWriter) Close() error {
	if w.err != nil {
		return w.err
	}
	if len(w.buf) > 0 || w.n == 0 {
		if w.buf == nil {
			w.buf = []byte{}
		}
		return w.flush()
	}
	return nil
}

// Stop ends the writer with err: the buffer is dropped and every later
// Write and Close returns err.
func (w *ChunkWriter) Stop(err error) { w.buf, w.err = nil, err }

func (w *ChunkWriter) flush() error {
	if err := w.Flush(w.n, w.buf); err != nil {
		w.err = err
		return err
	}
	w.buf, w.n = w.buf[:0], w.n+1
	return nil
}
