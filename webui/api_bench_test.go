package webui

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/fastflow-dev/fastflow/operator"
	"github.com/fastflow-dev/fastflow/repo"
	"github.com/fastflow-dev/fastflow/runtime/docker"
	"github.com/fastflow-dev/fastflow/status"
	"github.com/fastflow-dev/fastflow/status/credentials"
	"github.com/fastflow-dev/fastflow/status/sqlstore"
)

// BenchmarkAPIListRuns measures GET /api/runs?limit=50 with 100,000 runs in
// SQLite, through the whole handler chain (bearer auth included), on the
// first page and on a cursor page half-way down, and reports the p95: a
// deep page must be as fast as the first.
func BenchmarkAPIListRuns(b *testing.B) {
	const n = 100_000
	ctx := context.Background()
	data := b.TempDir()
	store, err := sqlstore.Open(ctx, sqlstore.Config{DataDir: data, CheckpointInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = store.Close() })
	if err := store.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	syncer, err := repo.NewSyncer(repo.Config{URL: b.TempDir(), Branch: "main", DataDir: data, PipelinesDir: filepath.Join(data, "pipelines")})
	if err != nil {
		b.Fatal(err)
	}
	rt, err := docker.New(docker.Config{Host: "unix://" + filepath.Join(data, "no-docker.sock")})
	if err != nil {
		b.Fatal(err)
	}
	op, err := operator.New(operator.Config{WorkerImage: "unused", Instance: "bench", LogsDir: filepath.Join(data, "logs"), UVCacheDir: filepath.Join(data, "uv")}, syncer, store, rt)
	if err != nil {
		b.Fatal(err)
	}
	srv, err := New(Config{Operator: op, Store: store})
	if err != nil {
		b.Fatal(err)
	}
	u, err := store.CreateUser(ctx, "bench", "not-a-real-hash")
	if err != nil {
		b.Fatal(err)
	}
	token, hash, err := credentials.NewToken(credentials.APITokenPrefix)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := store.CreateAPIToken(ctx, status.APIToken{Hash: hash, Name: "bench", UserID: u.ID}); err != nil {
		b.Fatal(err)
	}

	t0 := time.Now()
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	var mid status.Run
	for i := range n {
		r, err := store.CreateRun(ctx, status.Run{Pipeline: "p" + string(rune('a'+i%20)), Status: status.RunSuccess,
			Trigger: status.TriggerSchedule, QueuedAt: base.Add(time.Duration(i) * time.Second)})
		if err != nil {
			b.Fatal(err)
		}
		if i == n/2 {
			mid = r
		}
	}
	b.Logf("seeded %d runs through the store in %s", n, time.Since(t0).Round(time.Millisecond))
	deep := status.RunCursor{QueuedAt: mid.QueuedAt, ID: mid.ID}.Encode()

	for _, c := range []struct{ name, query string }{
		{"first_page", "limit=50"},
		{"deep_page", "limit=50&cursor=" + deep},
		{"deep_page_asc_pipeline", "limit=50&order=asc&pipeline=pc&cursor=" + deep},
	} {
		b.Run(c.name, func(b *testing.B) {
			var took []time.Duration
			for b.Loop() {
				req := httptest.NewRequest("GET", "/api/runs?"+c.query, nil)
				req.Header.Set("Authorization", "Bearer "+token)
				rec := httptest.NewRecorder()
				start := time.Now()
				srv.ServeHTTP(rec, req)
				took = append(took, time.Since(start))
				if rec.Code != http.StatusOK {
					b.Fatalf("%d %s", rec.Code, rec.Body)
				}
			}
			slices.Sort(took)
			p95 := took[len(took)*95/100]
			b.ReportMetric(float64(p95.Microseconds())/1000, "p95-ms")
			if p95 > 20*time.Millisecond {
				b.Errorf("p95 %s, want under 20 ms", p95)
			}
		})
	}
}
