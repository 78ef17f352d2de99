package repo

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/fastflow-dev/fastflow/repo/gittest"
	"github.com/fastflow-dev/fastflow/repo/repotest"
)

// benchRemote is a real repository holding n generated pipelines.
func benchRemote(b *testing.B, n int) *gittest.Remote {
	b.Helper()
	remote := gittest.New(b)
	if err := repotest.GenerateDir(remote.Dir, n); err != nil {
		b.Fatal(err)
	}
	remote.Commit("generated", nil)
	return remote
}

func benchSyncer(b *testing.B, url string) *Syncer {
	b.Helper()
	data := b.TempDir()
	s, err := NewSyncer(Config{URL: url, Branch: "main", DataDir: data, PipelinesDir: filepath.Join(data, "pipelines")})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.Sync(context.Background()); err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkSyncUnchanged is a poll that finds nothing new: one ref listing.
// Target: under 50 ms.
func BenchmarkSyncUnchanged(b *testing.B) {
	s := benchSyncer(b, benchRemote(b, 1000).Dir)
	ctx := context.Background()
	start := time.Now()
	for b.Loop() {
		res, err := s.Sync(ctx)
		if err != nil || res.Outcome != OutcomeUnchanged {
			b.Fatalf("sync = %s, %v", res.Outcome, err)
		}
	}
	reportMillis(b, time.Since(start), "target-50ms")
}

// BenchmarkSyncNewCommit1000 brings one new commit of a 1,000-pipeline
// repository: fetch, write the whole tree, discover and validate, swap.
// Target: under 2 s.
func BenchmarkSyncNewCommit1000(b *testing.B) {
	remote := benchRemote(b, 1000)
	s := benchSyncer(b, remote.Dir)
	ctx := context.Background()
	var took time.Duration
	i := 0
	for b.Loop() {
		b.StopTimer()
		remote.Commit("change", map[string]string{"p0000/main.py": fmt.Sprintf("print(%d)\n", i)})
		i++
		// Old revisions would pile up across iterations; GC is not what is measured.
		if _, err := s.GC(ctx, nil); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		res, err := s.Sync(ctx)
		took += time.Since(start)
		if err != nil || res.Outcome != OutcomeUpdated {
			b.Fatalf("sync = %s, %v", res.Outcome, err)
		}
	}
	reportMillis(b, took, "target-2000ms")
}

func reportMillis(b *testing.B, total time.Duration, target string) {
	b.Helper()
	ms := float64(total.Microseconds()) / 1000 / float64(b.N)
	b.ReportMetric(ms, "ms/sync")
	b.Logf("%.1f ms per sync (%s)", ms, target)
}
