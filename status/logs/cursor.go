package logs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
)

// Cursor reads a log file forward and remembers where it stopped, so a
// reader that keeps asking for the next lines (a live stream catching up
// from the file) reads each byte once instead of rescanning from line 1 on
// every call, as Read must. Not safe for concurrent use; Close releases
// the file.
type Cursor struct {
	path string
	f    *os.File
	off  int64 // byte offset of line n
	n    int64 // number of the line at off
	buf  []byte
}

// NewCursor returns a cursor at the first line of path. The file is opened
// on first use, so a log that does not exist yet is not an error here.
func NewCursor(path string) *Cursor {
	return &Cursor{path: path, n: 1}
}

// Read returns up to limit complete lines numbered from..., like Read. If
// from is before the cursor, it starts again at line 1.
func (c *Cursor) Read(from int64, limit int) ([]Line, error) {
	from = max(from, 1)
	if from < c.n {
		c.off, c.n = 0, 1
	}
	if c.f == nil {
		f, err := os.Open(c.path)
		if err != nil {
			return nil, err
		}
		c.f = f
	}
	if c.buf == nil {
		c.buf = make([]byte, chunkSize)
	}
	var out []Line
	var pending []byte // the start of a line that spans reads
	for limit <= 0 || len(out) < limit {
		k, err := c.f.ReadAt(c.buf, c.off+int64(len(pending)))
		chunk := c.buf[:k]
		progressed := false
		for len(chunk) > 0 && (limit <= 0 || len(out) < limit) {
			i := bytes.IndexByte(chunk, '\n')
			if i < 0 {
				break
			}
			line := chunk[:i]
			if len(pending) > 0 {
				line = append(pending, line...)
			}
			if c.n >= from {
				out = append(out, lenientLine(c.n, line))
			}
			c.off += int64(len(line)) + 1
			c.n++
			chunk = chunk[i+1:]
			pending = nil
			progressed = true
		}
		if limit > 0 && len(out) >= limit {
			break
		}
		if len(chunk) > 0 {
			// An incomplete line: keep it and read on; at the end of the
			// file it is a line still being written and is left for later.
			pending = append(pending, chunk...)
		}
		if errors.Is(err, io.EOF) || (k == 0 && err == nil) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", c.path, err)
		}
		if !progressed && k == 0 {
			break
		}
	}
	return out, nil
}

// Close releases the file.
func (c *Cursor) Close() error {
	if c.f == nil {
		return nil
	}
	err := c.f.Close()
	c.f = nil
	return err
}
