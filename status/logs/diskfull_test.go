package logs_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fastflow-dev/fastflow/internal/testenv"
	"github.com/fastflow-dev/fastflow/runtime"
	"github.com/fastflow-dev/fastflow/status/logs"
)

// smallDisk mounts a tmpfs of size bytes on a fresh folder: a disk that
// fills up for real.
func smallDisk(t *testing.T, size int) string {
	t.Helper()
	dir := t.TempDir()
	var err error
	if os.Geteuid() != 0 {
		err = errors.New("mounting a tmpfs needs root")
	} else if out, merr := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput(); merr != nil {
		err = fmt.Errorf("mount tmpfs: %v: %s", merr, out)
	}
	testenv.Require(t, "a small tmpfs", err)
	t.Cleanup(func() { _ = exec.Command("umount", dir).Run() })
	return dir
}

// TestWriterFullDisk: lines that do not fit are counted lost, the file
// keeps only whole lines, and once space is back a marker says how many
// are missing before the next line.
func TestWriterFullDisk(t *testing.T) {
	dir := smallDisk(t, 64<<10)
	filler := filepath.Join(dir, "filler")
	if err := os.WriteFile(filler, make([]byte, 40<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "run.log")
	w, err := logs.Open(path, logs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	t0 := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	line := strings.Repeat("x", 200)
	written, failed := 0, 0
	for i := range 400 {
		err := w.Write(runtime.LogLine{Time: t0.Add(time.Duration(i) * time.Millisecond), Stream: logs.StreamStdout, Text: fmt.Sprintf("%04d %s", i, line)})
		if ferr := w.Flush(); err == nil {
			err = ferr
		}
		if err != nil {
			failed++
		} else {
			written++
		}
	}
	lost, lostErr := w.Lost()
	if failed == 0 || lost == 0 || lostErr == nil {
		t.Fatalf("nothing lost on a full disk: %d written, %d failed, lost %d (%v)", written, failed, lost, lostErr)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(runtime.LogLine{Time: t0.Add(time.Hour), Stream: logs.StreamStdout, Text: "after the space came back"}); err != nil {
		t.Fatalf("write after space came back: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := logs.Read(path, 1, 1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	n := len(got)
	if n < 3 || got[n-1].Text != "after the space came back" || !strings.HasPrefix(got[n-2].Text, logs.LostMarkerPrefix) || got[n-2].Stream != logs.StreamSystem {
		t.Fatalf("log ends %+v, want the lost-lines marker then the new line", got[max(n-3, 0):])
	}
	if want := fmt.Sprintf("%d lines could not be stored", lost); !strings.Contains(got[n-2].Text, want) {
		t.Errorf("marker %q does not say %q", got[n-2].Text, want)
	}
	for i, l := range got[:n-2] {
		if !strings.HasSuffix(l.Text, line) || l.Time.IsZero() {
			t.Fatalf("line %d %q is not a whole stored line", i+1, l.Text)
		}
	}
}
