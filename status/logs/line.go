package logs

import (
	"bytes"
	"fmt"
	"time"
)

// The streams a stored line can carry.
const (
	StreamStdout = "stdout"
	StreamStderr = "stderr"
	// StreamSystem marks notices of the operator itself, not of the run.
	StreamSystem = "system"
)

// timeLayout is RFC 3339 with a fixed nine-digit fraction: time.RFC3339Nano
// trims trailing zeros, which would make the columns ragged. time.Parse with
// RFC3339Nano reads both.
const timeLayout = "2006-01-02T15:04:05.000000000Z07:00"

// Line is one stored line as read back, numbered from 1.
type Line struct {
	N      int64     `json:"n"`
	Time   time.Time `json:"time"`
	Stream string    `json:"stream"`
	Text   string    `json:"text"`
}

// Seq returns the line number, so that lines travel through a Hub.
func (l Line) Seq() int64 { return l.N }

func validStream(s string) bool {
	return s == StreamStdout || s == StreamStderr || s == StreamSystem
}

// appendLine appends the stored form of one line, newline included.
func appendLine(b []byte, t time.Time, stream, text string) []byte {
	b = t.UTC().AppendFormat(b, timeLayout)
	b = append(b, ' ')
	b = append(b, stream...)
	b = append(b, ' ')
	b = append(b, text...)
	return append(b, '\n')
}

// parseLine reads one stored line without its newline. A line that does not
// parse (a file edited by hand, or not ours) comes back whole as text with a
// zero time and an empty stream rather than failing the whole read.
func parseLine(n int64, b []byte) (Line, error) {
	ts, rest, ok := bytes.Cut(b, []byte{' '})
	if !ok {
		return Line{N: n, Text: string(b)}, fmt.Errorf("line %d: no stream", n)
	}
	t, err := time.Parse(time.RFC3339Nano, string(ts))
	if err != nil {
		return Line{N: n, Text: string(b)}, fmt.Errorf("line %d: %w", n, err)
	}
	stream, text, _ := bytes.Cut(rest, []byte{' '})
	return Line{N: n, Time: t, Stream: string(stream), Text: string(text)}, nil
}

// lenientLine is parseLine for readers, which keep going past a bad line.
func lenientLine(n int64, b []byte) Line {
	l, _ := parseLine(n, b)
	return l
}
