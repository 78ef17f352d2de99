package logs

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fastflow-dev/fastflow/runtime"
)

func TestCursorMatchesRead(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "run.log")
	w, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 11, 27, 5, 0, 0, 0, time.UTC)
	long := strings.Repeat("x", 3*chunkSize) // spans several reads
	for i := 1; i <= 5000; i++ {
		text := fmt.Sprintf("line %d", i)
		if i == 2500 {
			text = long
		}
		if err := w.Write(runtime.LogLine{Time: base.Add(time.Duration(i)), Stream: "stdout", Text: text}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	c := NewCursor(path)
	defer c.Close()
	// Forward in steps, then back to an earlier line, as a stream would.
	for _, step := range []struct {
		from  int64
		limit int
	}{{1, 100}, {101, 2000}, {2101, 1000}, {3101, 0}, {50, 10}, {4990, 100}, {6000, 10}} {
		got, err := c.Read(step.from, step.limit)
		if err != nil {
			t.Fatal(err)
		}
		want, err := Read(path, step.from, step.limit)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("Read(%d, %d): cursor %d lines, Read %d", step.from, step.limit, len(got), len(want))
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("Read(%d, %d) line %d: cursor %+v, Read %+v", step.from, step.limit, i, got[i].N, want[i].N)
			}
		}
	}
}

func TestCursorLeavesAPartialLastLine(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "run.log")
	if err := os.WriteFile(path, []byte("2026-11-27T05:00:00Z stdout one\n2026-11-27T05:00:01Z stdout tw"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := NewCursor(path)
	defer c.Close()
	got, err := c.Read(1, 0)
	if err != nil || len(got) != 1 || got[0].Text != "one" {
		t.Fatalf("Read = %+v, %v; want only the complete line", got, err)
	}
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	_, _ = f.WriteString("o\n")
	f.Close()
	got, err = c.Read(2, 0)
	if err != nil || len(got) != 1 || got[0].Text != "two" || got[0].N != 2 {
		t.Fatalf("after the line was completed: %+v, %v", got, err)
	}
}
