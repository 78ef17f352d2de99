package docker

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fastflow-dev/fastflow/runtime"
)

var t0 = time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)

// at returns t0 plus n milliseconds.
func at(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }

// frame is one entry of Docker's multiplexed log stream.
type frame struct {
	stream byte
	ms     int // timestamp: t0 + ms
	text   string
	raw    bool // text is the whole payload, without a timestamp
}

func encode(frames []frame) []byte {
	var b bytes.Buffer
	for _, f := range frames {
		payload := f.text
		if !f.raw {
			payload = at(f.ms).Format("2006-01-02T15:04:05.000000000Z07:00") + " " + f.text
		}
		hdr := [8]byte{f.stream}
		binary.BigEndian.PutUint32(hdr[4:], uint32(len(payload)))
		b.Write(hdr[:])
		b.WriteString(payload)
	}
	return b.Bytes()
}

func readLines(t *testing.T, data []byte) ([]runtime.LogLine, error) {
	t.Helper()
	s := newLogStream(context.Background(), io.NopCloser(bytes.NewReader(data)), func() {}, func(err error) error { return err })
	var lines []runtime.LogLine
	for {
		l, err := s.Next()
		if err != nil {
			return lines, err
		}
		lines = append(lines, l)
	}
}

func out(ms int, text string) runtime.LogLine {
	return runtime.LogLine{Time: at(ms), Stream: "stdout", Text: text}
}

func errl(ms int, text string) runtime.LogLine {
	return runtime.LogLine{Time: at(ms), Stream: "stderr", Text: text}
}

func TestLogStreamFraming(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 16<<10)
	tests := []struct {
		name    string
		data    []byte
		want    []runtime.LogLine
		wantErr string // empty: io.EOF
	}{
		{
			name: "interleaved streams keep their order",
			data: encode([]frame{{1, 1, "a\n", false}, {2, 2, "b\n", false}, {1, 3, "c\n", false}}),
			want: []runtime.LogLine{out(1, "a"), errl(2, "b"), out(3, "c")},
		},
		{
			name: "empty lines are lines",
			data: encode([]frame{{1, 1, "\n", false}, {1, 2, "x\n", false}}),
			want: []runtime.LogLine{out(1, ""), out(2, "x")},
		},
		{
			name: "a last line without newline is released at the end",
			data: encode([]frame{{1, 1, "a\n", false}, {1, 2, "tail", false}}),
			want: []runtime.LogLine{out(1, "a"), out(2, "tail")},
		},
		{
			name: "fragments are joined with the first fragment's time",
			data: encode([]frame{{1, 1, "ab", false}, {1, 1, "cd", false}, {1, 1, "e\n", false}}),
			want: []runtime.LogLine{out(1, "abcde")},
		},
		{
			name: "the other stream waits behind an unfinished older line",
			data: encode([]frame{
				{1, 1, long, false}, {2, 5, "late\n", false}, {2, 0, "", false},
				{1, 1, "end\n", false}, {2, 6, "later\n", false},
			}),
			want: []runtime.LogLine{out(1, long+"end"), errl(5, "late"), errl(6, "later")},
		},
		{
			name: "lines of the other stream older than the unfinished line pass",
			data: encode([]frame{{1, 5, "par", false}, {2, 3, "old\n", false}, {1, 5, "tial\n", false}}),
			want: []runtime.LogLine{errl(3, "old"), out(5, "partial")},
		},
		{
			name: "a line over the cap is split",
			data: encode([]frame{
				{1, 1, strings.Repeat("y", 40<<10), false},
				{1, 1, strings.Repeat("y", 40<<10) + "\n", false},
			}),
			want: []runtime.LogLine{out(1, strings.Repeat("y", MaxLineBytes)), out(1, strings.Repeat("y", 80<<10-MaxLineBytes))},
		},
		{
			name: "a line of exactly the cap is one line",
			data: encode([]frame{{1, 1, strings.Repeat("z", MaxLineBytes) + "\n", false}}),
			want: []runtime.LogLine{out(1, strings.Repeat("z", MaxLineBytes))},
		},
		{
			name:    "a daemon error frame ends the stream",
			data:    encode([]frame{{1, 1, "a\n", false}, {3, 0, "boom", true}}),
			want:    []runtime.LogLine{out(1, "a")},
			wantErr: "daemon error: boom",
		},
		{
			name:    "a truncated frame is an error",
			data:    encode([]frame{{1, 1, "a\n", false}, {1, 2, "bcdef\n", false}})[:30+8+10],
			want:    []runtime.LogLine{out(1, "a")},
			wantErr: io.ErrUnexpectedEOF.Error(),
		},
		{
			name: "stdin frames are skipped",
			data: encode([]frame{{0, 1, "in\n", false}, {1, 2, "a\n", false}}),
			want: []runtime.LogLine{out(2, "a")},
		},
		{
			name: "a payload without a timestamp keeps its text",
			data: encode([]frame{{1, 1, "a\n", false}, {1, 0, "no-time\n", true}}),
			want: []runtime.LogLine{out(1, "a"), out(1, "no-time")},
		},
		{
			name: "no output",
			data: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := readLines(t, tt.data)
			if tt.wantErr == "" && !errors.Is(err, io.EOF) || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("error = %v, want %q (empty: io.EOF)", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("lines (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLogStreamClose(t *testing.T) {
	t.Parallel()
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := newLogStream(ctx, pr, cancel, func(err error) error { return err })
	go func() {
		_, _ = pw.Write(encode([]frame{{1, 1, "a\n", false}}))
	}()
	if l, err := s.Next(); err != nil || l.Text != "a" {
		t.Fatalf("Next = %+v, %v", l, err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := s.Next()
		done <- err
	}()
	time.Sleep(10 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, ErrStreamClosed) {
			t.Errorf("Next after Close = %v, want ErrStreamClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end a blocked Next")
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

func TestLogStreamFollowTail(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		followed  []frame
		stored    []frame // what the unfollowed re-read returns from wantSince on
		wantSince time.Time
		want      []runtime.LogLine
	}{
		{
			name:      "the last line without newline comes from the re-read",
			followed:  []frame{{1, 1, "a\n", false}, {2, 2, "b\n", false}},
			stored:    []frame{{2, 2, "b\n", false}, {1, 3, "tail", false}},
			wantSince: at(2),
			want:      []runtime.LogLine{out(1, "a"), errl(2, "b"), out(3, "tail")},
		},
		{
			name:      "lines at the same time are not repeated, new ones at it are kept",
			followed:  []frame{{1, 1, "a\n", false}, {1, 1, "b\n", false}},
			stored:    []frame{{1, 1, "a\n", false}, {1, 1, "b\n", false}, {2, 1, "c\n", false}},
			wantSince: at(1),
			want:      []runtime.LogLine{out(1, "a"), out(1, "b"), errl(1, "c")},
		},
		{
			name:      "an unfinished line is read again whole",
			followed:  []frame{{1, 1, "a\n", false}, {1, 4, "par", false}},
			stored:    []frame{{1, 1, "a\n", false}, {1, 4, "par", false}, {1, 4, "tial", false}},
			wantSince: at(1),
			want:      []runtime.LogLine{out(1, "a"), out(4, "partial")},
		},
		{
			name:      "nothing followed: the re-read starts at the caller's Since",
			stored:    []frame{{1, 7, "only", false}},
			wantSince: at(5),
			want:      []runtime.LogLine{out(7, "only")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newLogStream(context.Background(), io.NopCloser(bytes.NewReader(encode(tt.followed))), func() {}, func(err error) error { return err })
			s.since = at(5)
			var gotSince []time.Time
			s.reopen = func(since time.Time) (io.ReadCloser, error) {
				gotSince = append(gotSince, since)
				return io.NopCloser(bytes.NewReader(encode(tt.stored))), nil
			}
			var got []runtime.LogLine
			for {
				l, err := s.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, l)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("lines (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]time.Time{tt.wantSince}, gotSince); diff != "" {
				t.Errorf("re-read since (-want +got):\n%s", diff)
			}
		})
	}
}
