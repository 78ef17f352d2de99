package logs

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// writeRaw writes stored lines straight to a file, bypassing the Writer.
func writeRaw(t testing.TB, path string, n int, extra ...string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	bw := bufio.NewWriter(f)
	var b []byte
	for i := 1; i <= n; i++ {
		b = appendLine(b[:0], at(i), StreamStdout, fmt.Sprintf("line %d of the big log with some padding text", i))
		bw.Write(b)
	}
	for _, s := range extra {
		bw.WriteString(s)
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestLastLine(t *testing.T) {
	t.Parallel()
	sys := string(appendLine(nil, at(500), StreamSystem, "operator restarted"))
	tests := []struct {
		name      string
		lines     int
		extra     []string
		wantText  string
		wantCount int64
	}{
		{"empty file", 0, nil, "", 0},
		{"one line", 1, nil, "line 1 of the big log with some padding text", 1},
		{"many lines", 3000, nil, "line 3000 of the big log with some padding text", 3000},
		{"partial last line ignored", 10, []string{"2026-11-27T05:00:00Z stdout partial"}, "line 10 of the big log with some padding text", 10},
		{"system lines skipped", 10, []string{sys, sys}, "line 10 of the big log with some padding text", 12},
		{"only system lines", 0, []string{sys}, "", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "r.log")
			writeRaw(t, path, tt.lines, tt.extra...)
			got, n, err := LastLine(path)
			if err != nil {
				t.Fatal(err)
			}
			if got.Text != tt.wantText || n != tt.wantCount {
				t.Errorf("LastLine = %q, %d; want %q, %d", got.Text, n, tt.wantText, tt.wantCount)
			}
			if tt.wantText != "" && (!got.Time.Equal(at(tt.lines)) || got.Stream != StreamStdout) {
				t.Errorf("LastLine time/stream = %v %s", got.Time, got.Stream)
			}
		})
	}
	if _, _, err := LastLine(filepath.Join(t.TempDir(), "missing.log")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want fs.ErrNotExist", err)
	}
}

// countingReaderAt counts the bytes read through it.
type countingReaderAt struct {
	r io.ReaderAt
	n atomic.Int64
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.n.Add(int64(n))
	return n, err
}

func TestLastLineBigFile(t *testing.T) {
	t.Parallel()
	const lines = 200_000
	path := filepath.Join(t.TempDir(), "big.log")
	writeRaw(t, path, lines)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}

	// The last line comes from the tail: one chunk, not the file.
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cr := &countingReaderAt{r: f}
	var last string
	if err := scanBack(cr, st.Size(), func(b []byte) bool { last = string(b); return false }); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(last, fmt.Sprintf("line %d of", lines)) {
		t.Errorf("last line %q", last)
	}
	if cr.n.Load() > chunkSize {
		t.Errorf("finding the last line read %d bytes of %d", cr.n.Load(), st.Size())
	}

	// The whole call, counting included, never holds the file in memory.
	var before, after goruntime.MemStats
	goruntime.ReadMemStats(&before)
	got, n, err := LastLine(path)
	goruntime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if n != lines || !got.Time.Equal(at(lines)) {
		t.Errorf("LastLine = %+v, %d", got, n)
	}
	// Parallel tests allocate too, so allow generous slack; the file is
	// ~17 MB.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4<<20 {
		t.Errorf("LastLine allocated %d bytes for a %d-byte file", alloc, st.Size())
	}
}

func TestReadAndTail(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "r.log")
	long := strings.Repeat("x", 3*chunkSize) // longer than any read buffer
	w := mustOpen(t, path, Options{})
	for i := 1; i <= 10; i++ {
		text := fmt.Sprintf("l%d", i)
		if i == 5 {
			text = long
		}
		mustWrite(t, w, out(i, text))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	nums := func(ls []Line) []int64 {
		var ns []int64
		for _, l := range ls {
			ns = append(ns, l.N)
			want := fmt.Sprintf("l%d", l.N)
			if l.N == 5 {
				want = long
			}
			if l.Text != want || !l.Time.Equal(at(int(l.N))) {
				t.Errorf("line %d = %.20q at %v", l.N, l.Text, l.Time)
			}
		}
		return ns
	}
	readTests := []struct {
		name  string
		from  int64
		limit int
		want  []int64
		tail  bool
		tailN int
	}{
		{name: "read all", from: 1, want: []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}},
		{name: "read from 0 means 1", from: 0, limit: 2, want: []int64{1, 2}},
		{name: "read a page over the long line", from: 4, limit: 3, want: []int64{4, 5, 6}},
		{name: "read from after the long line", from: 6, limit: 2, want: []int64{6, 7}},
		{name: "read past the end", from: 11, want: nil},
		{name: "tail 3", tail: true, tailN: 3, want: []int64{8, 9, 10}},
		{name: "tail over the long line", tail: true, tailN: 7, want: []int64{4, 5, 6, 7, 8, 9, 10}},
		{name: "tail more than there is", tail: true, tailN: 50, want: []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}},
		{name: "tail 0", tail: true, tailN: 0, want: nil},
	}
	for _, tt := range readTests {
		var got []Line
		var err error
		if tt.tail {
			got, err = Tail(path, tt.tailN)
		} else {
			got, err = Read(path, tt.from, tt.limit)
		}
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if diff := cmp.Diff(tt.want, nums(got)); diff != "" {
			t.Errorf("%s: line numbers (-want +got):\n%s", tt.name, diff)
		}
	}
}

func TestReadBadLines(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "r.log")
	if err := os.WriteFile(path, []byte("garbage\nnot-a-time stdout x\n2026-11-27T05:00:00Z stderr ok\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got := mustRead(t, path)
	want := []Line{
		{N: 1, Text: "garbage"},
		{N: 2, Text: "not-a-time stdout x"},
		{N: 3, Time: t0, Stream: "stderr", Text: "ok"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if l, n, err := LastLine(path); err != nil || l.Text != "ok" || n != 3 {
		t.Errorf("LastLine = %+v, %d, %v", l, n, err)
	}
	// An unparseable last line makes LastLine fail loudly rather than let
	// the operator resume from a wrong time.
	if err := os.WriteFile(path, []byte("2026-11-27T05:00:00Z stderr ok\ngarbage\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LastLine(path); err == nil {
		t.Error("LastLine on a garbage last line succeeded")
	}
}
