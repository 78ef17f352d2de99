package logs

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/fastflow-dev/fastflow/runtime"
)

// chunkSize is how much the readers read at a time: big enough that counting
// the lines of a large file is a few thousand reads, small enough that no
// reader holds more than this (plus one line) in memory.
const chunkSize = 64 << 10

// completeEnd returns the offset just after the last newline of f: the end of
// its complete lines. Bytes after it are a line whose write was cut short.
func completeEnd(f io.ReaderAt, size int64) (int64, error) {
	if size == 0 {
		return 0, nil
	}
	var one [1]byte
	if _, err := f.ReadAt(one[:], size-1); err != nil {
		return 0, fmt.Errorf("read last byte: %w", err)
	}
	if one[0] == '\n' {
		return size, nil
	}
	buf := make([]byte, chunkSize)
	for off := size; off > 0; {
		n := min(int64(chunkSize), off)
		off -= n
		if _, err := f.ReadAt(buf[:n], off); err != nil {
			return 0, fmt.Errorf("read at %d: %w", off, err)
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			return off + int64(i) + 1, nil
		}
	}
	return 0, nil
}

// countLines counts the newlines in the first end bytes of f, a chunk at a
// time.
func countLines(f io.ReaderAt, end int64) (int64, error) {
	buf := make([]byte, chunkSize)
	var count int64
	for off := int64(0); off < end; {
		n := min(int64(chunkSize), end-off)
		if _, err := f.ReadAt(buf[:n], off); err != nil {
			return 0, fmt.Errorf("read at %d: %w", off, err)
		}
		count += int64(bytes.Count(buf[:n], []byte{'\n'}))
		off += n
	}
	return count, nil
}

// scanBack yields the complete lines of the first end bytes of f, last
// first, without their newlines, until yield returns false. It reads only as
// far back as it has to. The slice passed to yield is reused.
func scanBack(f io.ReaderAt, end int64, yield func(line []byte) bool) error {
	if end == 0 {
		return nil
	}
	buf := make([]byte, chunkSize)
	// pending holds the tail of a line whose start is in an earlier chunk.
	var pending []byte
	off := end - 1 // the last newline ends the last line
	for off > 0 {
		n := min(int64(chunkSize), off)
		off -= n
		chunk := buf[:n]
		if _, err := f.ReadAt(chunk, off); err != nil {
			return fmt.Errorf("read at %d: %w", off, err)
		}
		for {
			i := bytes.LastIndexByte(chunk, '\n')
			if i < 0 {
				pending = append(slices.Clip(chunk), pending...)
				break
			}
			line := chunk[i+1:]
			if len(pending) > 0 {
				line = append(slices.Clip(line), pending...)
				pending = nil
			}
			if !yield(line) {
				return nil
			}
			chunk = chunk[:i]
		}
	}
	// What remains is the file's first line.
	yield(pending)
	return nil
}

// openComplete opens path and returns it with the end of its complete lines.
func openComplete(path string) (*os.File, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, fmt.Errorf("open %s: %w", path, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("stat %s: %w", path, err)
	}
	end, err := completeEnd(f, st.Size())
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("%s: %w", path, err)
	}
	return f, end, nil
}

// LastLine returns the last line of the run's own output (stdout or stderr)
// stored in the log at path, and the number of lines in the file. System
// lines are skipped for the first result because their times are the
// operator's, not the backend's: the operator resumes `logs --since` from the
// returned time after a restart and drops the lines it already has, and a
// notice written at re-attach time must not make it skip output the
// container produced while the operator was down.
//
// It reads the file backwards from the end for the line and counts lines a
// chunk at a time, so a large file is never held in memory. With no output
// line stored, the line is the zero LogLine. A missing file is an error
// wrapping fs.ErrNotExist.
func LastLine(path string) (runtime.LogLine, int64, error) {
	f, end, err := openComplete(path)
	if err != nil {
		return runtime.LogLine{}, 0, err
	}
	defer f.Close()
	var last runtime.LogLine
	var perr error
	err = scanBack(f, end, func(b []byte) bool {
		l, err := parseLine(0, b)
		if err != nil {
			perr = err
			return false
		}
		if l.Stream == StreamSystem {
			return true
		}
		last = runtime.LogLine{Time: l.Time, Stream: l.Stream, Text: l.Text}
		return false
	})
	if err == nil {
		err = perr
	}
	if err != nil {
		return runtime.LogLine{}, 0, fmt.Errorf("last line of %s: %w", path, err)
	}
	n, err := countLines(f, end)
	if err != nil {
		return runtime.LogLine{}, 0, fmt.Errorf("count lines of %s: %w", path, err)
	}
	return last, n, nil
}

// Read returns up to limit lines of the log at path starting with line number
// from (1-based; values below 1 mean 1). limit <= 0 means no limit, which the
// API should not use on a log of unknown size. Lines past the end give an
// empty result, not an error.
func Read(path string, from int64, limit int) ([]Line, error) {
	f, end, err := openComplete(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	from = max(from, 1)
	r := bufio.NewReaderSize(io.NewSectionReader(f, 0, end), chunkSize)
	var out []Line
	var long []byte // a line longer than the reader's buffer
	for n := int64(1); limit <= 0 || len(out) < limit; {
		b, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			if n >= from {
				long = append(long, b...)
			}
			continue
		}
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		if n >= from {
			if long != nil {
				b = append(long, b...)
				long = nil
			}
			out = append(out, lenientLine(n, b[:len(b)-1]))
		}
		n++
	}
	return out, nil
}

// Tail returns the last n lines of the log at path with their line numbers.
func Tail(path string, n int) ([]Line, error) {
	if n <= 0 {
		return nil, nil
	}
	f, end, err := openComplete(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	raw := make([][]byte, 0, min(n, 1024))
	err = scanBack(f, end, func(b []byte) bool {
		raw = append(raw, bytes.Clone(b))
		return len(raw) < n
	})
	if err != nil {
		return nil, fmt.Errorf("tail %s: %w", path, err)
	}
	total, err := countLines(f, end)
	if err != nil {
		return nil, fmt.Errorf("count lines of %s: %w", path, err)
	}
	out := make([]Line, len(raw))
	first := total - int64(len(raw)) + 1
	for i, b := range raw {
		k := len(raw) - 1 - i
		out[k] = lenientLine(first+int64(k), b)
	}
	return out, nil
}
