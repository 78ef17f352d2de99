package operator

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fastflow-dev/fastflow/runtime/fake"
	"github.com/fastflow-dev/fastflow/status"
	"github.com/fastflow-dev/fastflow/status/metrics"
)

// examplePipelines are the pipelines the run tests use, committed to a real
// repository and run in the real worker image.
var examplePipelines = map[string]string{
	"hello/main.py": "print('hello from fast-flow')\nprint('second line')\n",

	"fails/main.py": "print('about to fail')\nraise RuntimeError('boom: the pipeline failed')\n",

	"oom/main.py":       "blocks = []\nwhile True:\n    blocks.append(bytearray(8 << 20))\n",
	"oom/pipeline.json": `{"mem_hard_limit": "64m"}`,

	"sleeper/main.py":       "import time\nprint('sleeping', flush=True)\ntime.sleep(300)\n",
	"sleeper/pipeline.json": `{"timeout": 3}`,

	"waiter/main.py": "import time\nprint('waiting', flush=True)\ntime.sleep(300)\n",

	"envcheck/main.py": "import os\nfor k in ('LEVEL', 'ONLY_DEFAULT', 'DAY', 'COUNT'):\n    print(k + '=' + os.environ.get(k, '<unset>'))\n",
	"envcheck/pipeline.json": `{"default_env": {"LEVEL": "info", "ONLY_DEFAULT": "d"},
		"parameters": {"DAY": {"type": "string", "default": "monday"}, "COUNT": {"type": "integer", "default": 1}}}`,

	"withreq/main.py":          "import fastflow_testpkg\nprint('imported', fastflow_testpkg.__name__)\n",
	"withreq/requirements.txt": "fastflow-testpkg==1.0.0\n",

	"badreq/main.py":          "print('never runs')\n",
	"badreq/requirements.txt": "no-such-package-anywhere==9.9\n",

	"flaky/main.py":       "raise SystemExit(3)\n",
	"flaky/pipeline.json": `{"retry_attempts": 2, "retry_delay": 1}`,

	"disabled/main.py":       "print('no')\n",
	"disabled/pipeline.json": `{"enabled": false}`,

	"broken/main.py":       "print('no')\n",
	"broken/pipeline.json": `{"timout": 5}`,
}

func TestRunOutcomes(t *testing.T) {
	env := newRunEnv(t, examplePipelines, nil)
	tests := []struct {
		pipeline  string
		want      status.RunStatus
		errorType status.ErrorType
		code      int
		logHas    string
		message   string
	}{
		{pipeline: "hello", want: status.RunSuccess, code: 0},
		{pipeline: "fails", want: status.RunFailed, errorType: status.ErrorExitCode, code: 1, logHas: "RuntimeError: boom: the pipeline failed", message: "exited with code 1"},
		{pipeline: "oom", want: status.RunFailed, errorType: status.ErrorOOM, code: 137, message: "killed: out of memory (limit 64 MiB)"},
		{pipeline: "badreq", want: status.RunFailed, errorType: status.ErrorSetupFailed, logHas: "no-such-package-anywhere"},
	}
	for _, tt := range tests {
		t.Run(tt.pipeline, func(t *testing.T) {
			t.Parallel()
			r := env.run(tt.pipeline, nil, nil)
			if r.Status != tt.want || r.ErrorType != tt.errorType {
				t.Fatalf("%s ended %s/%s (%s), want %s/%s; log:\n%s", tt.pipeline, r.Status, r.ErrorType, r.Message, tt.want, tt.errorType, strings.Join(env.logText(r), "\n"))
			}
			if tt.errorType != status.ErrorSetupFailed && (r.ExitCode == nil || *r.ExitCode != tt.code) {
				t.Errorf("exit code = %v, want %d", r.ExitCode, tt.code)
			}
			if tt.message != "" && r.Message != tt.message {
				t.Errorf("message = %q, want %q", r.Message, tt.message)
			}
			if tt.logHas != "" && !env.logHas(r, tt.logHas) {
				t.Errorf("log lacks %q:\n%s", tt.logHas, strings.Join(env.logText(r), "\n"))
			}
			if !strings.Contains(r.UVVersion, "uv") {
				t.Errorf("uv version not recorded: %q", r.UVVersion)
			}
			if r.StartedAt.IsZero() || r.FinishedAt.Before(r.StartedAt) || r.ContainerID == "" {
				t.Errorf("times/container not recorded: %+v", r)
			}
		})
	}
	t.Run("hello prints exactly its lines", func(t *testing.T) {
		t.Parallel()
		r := env.run("hello", nil, nil)
		if diff := cmp.Diff([]string{"hello from fast-flow", "second line"}, env.logText(r)); diff != "" {
			t.Errorf("log (-want +got):\n%s", diff)
		}
	})
}

func TestRunRefusals(t *testing.T) {
	env := newFakeEnv(t, examplePipelines, map[string]fake.Program{}, nil)
	ctx := context.Background()
	tests := []struct {
		name    string
		req     RunRequest
		wantErr error
	}{
		{name: "unknown pipeline", req: RunRequest{Pipeline: "nope"}, wantErr: ErrPipelineNotFound},
		{name: "disabled pipeline", req: RunRequest{Pipeline: "disabled"}, wantErr: ErrPipelineDisabled},
		{name: "invalid pipeline", req: RunRequest{Pipeline: "broken"}, wantErr: ErrPipelineInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := env.op.RunPipeline(ctx, tt.req); !errors.Is(err, tt.wantErr) {
				t.Errorf("RunPipeline = %v, want %v", err, tt.wantErr)
			}
		})
	}
	t.Run("bad parameter", func(t *testing.T) {
		_, err := env.op.RunPipeline(ctx, RunRequest{Pipeline: "envcheck", Parameters: map[string]any{"COUNT": "many"}})
		var pe *ParamError
		if !errors.As(err, &pe) || pe.Fields["COUNT"] == "" {
			t.Errorf("RunPipeline = %v, want a ParamError on COUNT", err)
		}
	})
	page, err := env.store.ListRuns(ctx, status.RunFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Runs) != 0 {
		t.Errorf("refused runs left %d records behind", len(page.Runs))
	}
}

func TestRunEnvPrecedence(t *testing.T) {
	env := newRunEnv(t, examplePipelines, nil)
	r := env.run("envcheck", map[string]any{"COUNT": "7"}, map[string]string{"LEVEL": "debug"})
	want := []string{"LEVEL=debug", "ONLY_DEFAULT=d", "DAY=monday", "COUNT=7"}
	if diff := cmp.Diff(want, env.logText(r)); diff != "" {
		t.Errorf("env (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"DAY": "monday", "COUNT": "7"}, r.Parameters); diff != "" {
		t.Errorf("recorded parameters (-want +got):\n%s", diff)
	}
	for _, name := range []string{"LEVEL", "ONLY_DEFAULT", "DAY", "COUNT"} {
		found := false
		for _, n := range r.EnvNames {
			found = found || n == name
		}
		if !found {
			t.Errorf("env_names %v lacks %s", r.EnvNames, name)
		}
	}
}

func TestRunTimeoutAndCancel(t *testing.T) {
	env := newRunEnv(t, examplePipelines, nil)
	t.Run("timeout", func(t *testing.T) {
		t.Parallel()
		start := time.Now()
		r := env.run("sleeper", nil, nil)
		if r.Status != status.RunTimeout {
			t.Fatalf("sleeper ended %s (%s), want TIMEOUT", r.Status, r.Message)
		}
		if took := time.Since(start); took > 13*time.Second {
			t.Errorf("timeout of 3 s took %s to end the run, want under 13 s", took)
		}
	})
	t.Run("cancel", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		r, err := env.op.RunPipeline(ctx, RunRequest{Pipeline: "waiter"})
		if err != nil {
			t.Fatal(err)
		}
		env.waitFor("waiter to print", 60*time.Second, func() bool {
			got, err := env.store.GetRun(ctx, r.ID)
			return err == nil && got.Status == status.RunRunning && env.logHas(got, "waiting")
		})
		env.waitFor("a metrics point", 30*time.Second, func() bool {
			points, err := metrics.ReadAll(r.MetricsPath)
			return err == nil && len(points) > 0
		})
		if err := env.op.CancelRun(ctx, r.ID); err != nil {
			t.Fatal(err)
		}
		r = env.waitFinal(r.ID, 30*time.Second)
		if r.Status != status.RunCancelled {
			t.Errorf("cancelled run ended %s (%s)", r.Status, r.Message)
		}
		// The waiter ran a few seconds: its CPU/RAM figures are on file.
		points, err := metrics.ReadAll(r.MetricsPath)
		if err != nil || len(points) == 0 {
			t.Fatalf("metrics of the cancelled run: %d points, %v", len(points), err)
		}
		if last := points[len(points)-1]; last.RAMMB <= 0 || last.Timestamp.IsZero() {
			t.Errorf("metrics point %+v lacks RAM or time", last)
		}
		if r.PeakRAMBytes <= 0 {
			t.Errorf("peak RAM not recorded on the run")
		}
		if err := env.op.CancelRun(ctx, r.ID); !errors.Is(err, ErrRunNotActive) {
			t.Errorf("second cancel = %v, want ErrRunNotActive", err)
		}
		if err := env.op.CancelRun(ctx, "0000-no-such-run"); !errors.Is(err, ErrRunNotFound) {
			t.Errorf("cancel of an unknown run = %v, want ErrRunNotFound", err)
		}
	})
}

func TestRequirementsAreInstalledAndCached(t *testing.T) {
	env := newRunEnv(t, examplePipelines, nil)
	first := env.run("withreq", nil, nil)
	second := env.run("withreq", nil, nil)
	for _, r := range []status.Run{first, second} {
		if r.Status != status.RunSuccess || !env.logHas(r, "imported fastflow_testpkg") {
			t.Fatalf("withreq ended %s (%s); log:\n%s", r.Status, r.Message, strings.Join(env.logText(r), "\n"))
		}
	}
	t.Logf("setup: first %s, second %s", first.SetupDuration, second.SetupDuration)
	if first.SetupDuration <= 0 || second.SetupDuration <= 0 {
		t.Errorf("setup durations not recorded: %s, %s", first.SetupDuration, second.SetupDuration)
	}
	if second.SetupDuration >= first.SetupDuration {
		t.Errorf("second setup (%s) not faster than the first (%s): the uv cache was not used", second.SetupDuration, first.SetupDuration)
	}
}

// TestAdmissionIsExact fires 30 run requests at once with a limit of 5:
// exactly 5 are admitted, no refused request leaves a record, and no more
// than 5 containers are ever alive.
func TestAdmissionIsExact(t *testing.T) {
	env := newFakeEnv(t, examplePipelines, map[string]fake.Program{"waiter": {fake.Print("waiting"), fake.Forever()}}, func(c *Config) { c.MaxConcurrentRuns = 5 })
	ctx := context.Background()
	var (
		wg       sync.WaitGroup
		admitted atomic.Int32
		refused  atomic.Int32
		ids      sync.Map
	)
	start := make(chan struct{})
	for range 30 {
		wg.Go(func() {
			<-start
			r, err := env.op.RunPipeline(ctx, RunRequest{Pipeline: "waiter"})
			switch {
			case err == nil:
				admitted.Add(1)
				ids.Store(r.ID, true)
			case errors.Is(err, ErrTooManyRuns):
				refused.Add(1)
			default:
				t.Errorf("RunPipeline: %v", err)
			}
		})
	}
	close(start)
	wg.Wait()
	if admitted.Load() != 5 || refused.Load() != 25 {
		t.Fatalf("admitted %d, refused %d; want 5 and 25", admitted.Load(), refused.Load())
	}
	mine := map[string]bool{}
	ids.Range(func(k, _ any) bool { mine[k.(string)] = true; return true })
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if n := env.labelledContainers(nil); n > 5 {
			t.Fatalf("%d run containers alive, limit 5", n)
		}
		if env.labelledContainers(mine) == 5 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	page, err := env.store.ListRuns(ctx, status.RunFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Runs) != 5 {
		t.Errorf("%d run records, want 5", len(page.Runs))
	}
	for id := range mine {
		if err := env.op.CancelRun(ctx, id); err != nil {
			t.Error(err)
		}
	}
	for id := range mine {
		if r := env.finalAfter(id, time.Second, time.Minute); r.Status != status.RunCancelled {
			t.Errorf("run %s ended %s", id, r.Status)
		}
	}
	if n := env.liveContainers(mine); n != 0 {
		t.Errorf("%d containers left after the runs ended", n)
	}
}

// TestShutdownStopInterrupts checks SHUTDOWN_POLICY=stop: active runs are
// stopped and end INTERRUPTED, and their containers are removed.
func TestShutdownStopInterrupts(t *testing.T) {
	env := newRunEnv(t, examplePipelines, func(c *Config) { c.ShutdownPolicy = ShutdownStop })
	ctx := context.Background()
	r, err := env.op.RunPipeline(ctx, RunRequest{Pipeline: "waiter"})
	if err != nil {
		t.Fatal(err)
	}
	env.waitFor("waiter running", 60*time.Second, func() bool {
		got, err := env.store.GetRun(ctx, r.ID)
		return err == nil && got.Status == status.RunRunning
	})
	env.stop()
	got, err := reopenRun(t, env, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != status.RunInterrupted {
		t.Errorf("run after shutdown with policy stop = %s (%s), want INTERRUPTED", got.Status, got.Message)
	}
	if n := env.labelledContainers(map[string]bool{r.ID: true}); n != 0 {
		t.Errorf("%d containers left", n)
	}
}

// reopenRun reads a run from the env's database after its operator stopped.
func reopenRun(t *testing.T, env *runEnv, id string) (status.Run, error) {
	t.Helper()
	env.start()
	r, err := env.store.GetRun(context.Background(), id)
	if err != nil {
		return r, fmt.Errorf("get run %s: %w", id, err)
	}
	return r, nil
}
