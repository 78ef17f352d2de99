package logs

import (
	"path/filepath"
	"testing"

	"github.com/fastflow-dev/fastflow/runtime"
	"github.com/google/go-cmp/cmp"
)

// TestResumeNoLossNoDuplicate simulates an operator restart: part of a
// stream is stored, the stream is re-read from the last line's time, and
// the file ends with every line exactly once.
func TestResumeNoLossNoDuplicate(t *testing.T) {
	t.Parallel()
	// Lines 3, 4 and 5 share a timestamp; a secret is masked in storage.
	stream := []runtime.LogLine{
		out(1, "a"), out(2, "b"), out(3, "c token=hunter22"), out(3, "d"), out(3, "e"), out(4, "f"), out(5, "g"),
	}
	for cut := 0; cut <= len(stream); cut++ {
		path := filepath.Join(t.TempDir(), "r.log")
		m := NewMasker([]string{"hunter22"})
		w := mustOpen(t, path, Options{Masker: m})
		mustWrite(t, w, stream[:cut]...)
		w.Close()

		last, _, err := LastLine(path)
		if err != nil {
			t.Fatal(err)
		}
		w2 := mustOpen(t, path, Options{Masker: m})
		r := NewResume(last, m)
		for _, l := range stream {
			if l.Time.Before(r.Since()) {
				continue // the backend does not send these
			}
			if !r.Stored(l) {
				mustWrite(t, w2, l)
			}
		}
		w2.Close()
		var got []string
		for _, l := range mustRead(t, path) {
			got = append(got, l.Text)
		}
		want := []string{"a", "b", "c token=***", "d", "e", "f", "g"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("cut after %d lines (-want +got):\n%s", cut, diff)
		}
	}
}
