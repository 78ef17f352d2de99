package operator

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/fastflow-dev/fastflow/runtime/fake"
	"github.com/fastflow-dev/fastflow/status"
)

// TestRetentionAfterRuns: the operator's Run starts the sweeper, and each
// finished run pokes it: with LOG_RETENTION_RUNS=5 overridden to 2 by
// pipeline.json, after four runs only the newest two keep their files and
// the older ones say why theirs went.
func TestRetentionAfterRuns(t *testing.T) {
	t.Parallel()
	e := newFakeEnv(t, map[string]string{
		"hello/main.py":       "print('hi')\n",
		"hello/pipeline.json": `{"retention": {"runs": 2}}`,
	}, map[string]fake.Program{}, func(c *Config) { c.Retention = RetentionConfig{Runs: 5, Interval: 24 * time.Hour} })
	var runs []status.Run
	for range 4 {
		r := e.finalAfter(e.startRun(RunRequest{Pipeline: "hello"}).ID, 100*time.Millisecond, time.Minute)
		if r.Status != status.RunSuccess || r.LogPath == "" {
			t.Fatalf("run ended %s with log %q", r.Status, r.LogPath)
		}
		runs = append(runs, r)
	}
	e.waitFor("the two oldest runs' files to go", 10*time.Second, func() bool {
		for _, r := range runs[:2] {
			got, err := e.store.GetRun(context.Background(), r.ID)
			if err != nil || !got.LogRemoved() {
				return false
			}
		}
		return true
	})
	for i, r := range runs {
		got, err := e.store.GetRun(context.Background(), r.ID)
		if err != nil {
			t.Fatal(err)
		}
		_, statErr := os.Stat(r.LogPath)
		if removed := i < 2; removed != got.LogRemoved() || removed != os.IsNotExist(statErr) {
			t.Errorf("run %d: marked %v, log stat %v; want removed %v", i, got.LogRemoved(), statErr, removed)
		}
		if i < 2 && got.LogRemovedReason != reasonPipelineJS {
			t.Errorf("run %d reason %q, want %q", i, got.LogRemovedReason, reasonPipelineJS)
		}
	}
}
