package webui

import (
	"flag"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fastflow-dev/fastflow/repo"
	"github.com/fastflow-dev/fastflow/schemas"
	"github.com/fastflow-dev/fastflow/status"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files in testdata/")

// checkGolden compares the API encoding of v (writeJSON's) with
// testdata/name, or rewrites it with -update.
func checkGolden(t *testing.T, name string, v any) {
	t.Helper()
	rec := httptest.NewRecorder()
	writeJSON(rec, 200, v)
	got := rec.Body.Bytes()
	path := filepath.Join("testdata", name)
	if *updateGolden {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s (-want +got):\n%s", name, diff)
	}
}

// TestRunJSONGolden pins the run as the API returns it (DESIGN.md "Run
// record"): names, nulls, rounding, UTC times.
func TestRunJSONGolden(t *testing.T) {
	t.Parallel()
	berlin := time.FixedZone("CET", 3600)
	code := 137
	tests := []struct {
		name string
		run  status.Run
	}{
		{"run_failed_oom.golden.json", status.Run{
			ID: "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", Pipeline: "hello", Status: status.RunFailed,
			ErrorType: status.ErrorOOM, ExitCode: &code, Message: "killed: out of memory (limit 64 MiB)",
			Revision: "3f2c9a0e1b2c3d4e5f60718293a4b5c6d7e8f901", Trigger: status.TriggerRetry, TriggeredBy: "admin",
			Attempt: 2, RetryOf: "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a50",
			Parameters: map[string]string{"DATE": "2026-11-27"}, EnvNames: []string{"API_TOKEN", "LOG_LEVEL"},
			QueuedAt:   time.Date(2026, 11, 27, 6, 0, 0, 0, berlin),
			StartedAt:  time.Date(2026, 11, 27, 5, 0, 1, 0, time.UTC),
			FinishedAt: time.Date(2026, 11, 27, 5, 0, 9, 100_000_000, time.UTC),
			UVVersion:  "uv 0.9.2", SetupDuration: 1400 * time.Millisecond, PeakCPUPercent: 97.54,
			PeakRAMBytes: 67_003_000, SoftLimitExceeded: true, ContainerID: "c0ffee",
			LogPath: "/must/not/appear.log",
		}},
		{"run_pending.golden.json", status.Run{
			ID: "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c", Pipeline: "hello", Status: status.RunPending,
			Trigger: status.TriggerSchedule, Attempt: 1, QueuedAt: time.Date(2026, 11, 27, 5, 0, 0, 0, time.UTC),
		}},
		// A retry waiting out its delay: queued, with the earliest start.
		{"run_pending_retry.golden.json", status.Run{
			ID: "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5d", Pipeline: "hello", Status: status.RunPending,
			Trigger: status.TriggerRetry, Attempt: 2, RetryOf: "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c",
			QueuedAt:  time.Date(2026, 11, 27, 5, 0, 0, 0, time.UTC),
			NotBefore: time.Date(2026, 11, 27, 5, 0, 30, 0, berlin),
			// Never returned by the API.
			RequestEnv: map[string]string{"API_TOKEN": "must-not-appear"},
		}},
		// Holding a slot, starting: PENDING but not queued.
		{"run_pending_admitted.golden.json", status.Run{
			ID: "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5e", Pipeline: "hello", Status: status.RunPending, Admitted: true,
			Trigger: status.TriggerManual, TriggeredBy: "alice", Attempt: 1, QueuedAt: time.Date(2026, 11, 27, 5, 0, 0, 0, time.UTC),
		}},
		{"run_log_incomplete.golden.json", status.Run{
			ID: "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5f", Pipeline: "hello", Status: status.RunSuccess, ExitCode: new(int),
			Message: "the log stream broke; lines may be missing", LogIncomplete: true,
			Trigger: status.TriggerManual, TriggeredBy: "alice", Attempt: 1, Admitted: true,
			QueuedAt:   time.Date(2026, 11, 27, 5, 0, 0, 0, time.UTC),
			StartedAt:  time.Date(2026, 11, 27, 5, 0, 1, 0, time.UTC),
			FinishedAt: time.Date(2026, 11, 27, 5, 1, 1, 0, time.UTC),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			checkGolden(t, tt.name, newRunJSON(tt.run))
		})
	}
}

// TestPipelineJSONGolden pins a pipeline as the API returns it.
func TestPipelineJSONGolden(t *testing.T) {
	t.Parallel()
	retries := 2
	p := repo.Pipeline{
		Name: "nightly",
		Spec: schemas.Spec{
			Description: "nightly load", Tags: []string{"etl"}, CPUHardLimit: 1.5, MemHardLimit: 256 << 20,
			MemSoftLimit: 200 << 20, Timeout: 600, RetryAttempts: &retries,
			Schedules: []schemas.Schedule{{Cron: "0 3 * * *", Timezone: "Europe/Berlin"}, {Every: "15m"}},
			Secrets:   []string{"API_TOKEN"},
			Parameters: map[string]schemas.Parameter{
				"DATE": {Type: schemas.ParamString, Description: "day to load", Required: true},
			},
		},
		HasRequirements: true,
	}
	st := status.Pipeline{Name: "nightly", TotalRuns: 10, SuccessfulRuns: 8, FailedRuns: 2, CancelledRuns: 3, InterruptedRuns: 1,
		LastCacheWarmup: time.Date(2026, 11, 26, 23, 0, 0, 0, time.UTC), CacheStatus: "warm"}
	last := status.Run{ID: "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c", Pipeline: "nightly", Status: status.RunRunning,
		Trigger: status.TriggerSchedule, Attempt: 1,
		QueuedAt: time.Date(2026, 11, 27, 2, 0, 0, 0, time.UTC), StartedAt: time.Date(2026, 11, 27, 2, 0, 1, 0, time.UTC)}
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	checkGolden(t, "pipeline_nightly.golden.json", newPipelineJSON("3f2c9a0e", p, st, &last, now))

	broken := repo.Pipeline{Name: "broken", Spec: schemas.Spec{Schedule: &schemas.Schedule{Cron: "0 3 * * *", Short: true}},
		Problems: []repo.Problem{{Path: "broken/pipeline.json", Pointer: "/timeout", Message: "want integer"}}}
	checkGolden(t, "pipeline_broken.golden.json", newPipelineJSON("3f2c9a0e", broken, status.Pipeline{}, nil, now))
}
