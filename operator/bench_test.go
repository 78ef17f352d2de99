package operator

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fastflow-dev/fastflow/repo/gittest"
	"github.com/fastflow-dev/fastflow/runtime/docker"
	"github.com/fastflow-dev/fastflow/status"
)

var benchPipelines = map[string]string{
	"hello/main.py":  "print('hello')\n",
	"sleepy/main.py": "import time\ntime.sleep(300)\n",
	// napper outlives the wait for 20 containers and exits while no
	// operator watches (BenchmarkReconcile20).
	"napper/main.py":  "import time\ntime.sleep(4)\n",
	"chatty/main.py":  "import sys\nw = sys.stdout.write\nfor i in range(1000000):\n    w('line %d\\n' % i)\n",
	"counter/main.py": counterPipeline["counter/main.py"],
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// dockerRun is the baseline: the same image, command and mounts through the
// docker CLI, with nothing of Fast-Flow around it.
func dockerRun(b *testing.B, env *runEnv, pipeline string) {
	b.Helper()
	snap := env.op.Snapshot()
	cmd, wrapperEnv := runCommand(pipeline, false)
	args := []string{"run", "--rm", "--network", "none", "-v", snap.Dir + ":/app:ro",
		"-v", filepath.Join(env.data, "uv-cache") + ":/root/.cache/uv", "-w", "/app/" + pipeline}
	for k, v := range wrapperEnv {
		args = append(args, "-e", k+"="+v)
	}
	args = append(args, workerImage)
	args = append(args, cmd...)
	if out, err := exec.Command("docker", args...).CombinedOutput(); err != nil {
		b.Fatalf("docker run: %v\n%s", err, out)
	}
}

// BenchmarkRunOverhead: the median time from asking the operator for a run
// of hello to its SUCCESS record, against `docker run --rm` of the same
// image and command. Target: ratio <= 1.15.
func BenchmarkRunOverhead(b *testing.B) {
	env := newRunEnv(b, benchPipelines, nil)
	const n = 9
	var ff, raw []time.Duration
	for b.Loop() {
		ff, raw = ff[:0], raw[:0]
		for range n {
			start := time.Now()
			r := env.run("hello", nil, nil)
			ff = append(ff, time.Since(start))
			if r.Status != status.RunSuccess {
				b.Fatalf("hello ended %s", r.Status)
			}
			start = time.Now()
			dockerRun(b, env, "hello")
			raw = append(raw, time.Since(start))
		}
	}
	ratio := float64(median(ff)) / float64(median(raw))
	b.ReportMetric(float64(median(ff).Milliseconds()), "fastflow-ms")
	b.ReportMetric(float64(median(raw).Milliseconds()), "docker-run-ms")
	b.ReportMetric(ratio, "ratio")
	b.Logf("run of hello: Fast-Flow median %s, docker run --rm median %s, ratio %.2f (target <= 1.15)", median(ff), median(raw), ratio)
}

// BenchmarkRun200: 200 runs of hello with MAX_CONCURRENT_RUNS=10, against
// 200 `docker run --rm` ten at a time. Every run must be recorded exactly
// once and succeed. Target: ratio <= 1.2.
func BenchmarkRun200(b *testing.B) {
	env := newRunEnv(b, benchPipelines, func(c *Config) { c.MaxConcurrentRuns = 10 })
	const total, parallel = 200, 10
	ctx := context.Background()
	var ffWall, rawWall time.Duration
	for b.Loop() {
		start := time.Now()
		var wg sync.WaitGroup
		ids := make(chan string, total)
		work := make(chan struct{}, total)
		for range total {
			work <- struct{}{}
		}
		close(work)
		for range parallel {
			wg.Go(func() {
				for range work {
					for {
						r, err := env.op.RunPipeline(ctx, RunRequest{Pipeline: "hello"})
						if errors.Is(err, ErrTooManyRuns) {
							time.Sleep(5 * time.Millisecond)
							continue
						}
						if err != nil {
							b.Error(err)
							return
						}
						ids <- r.ID
						env.waitFinal(r.ID, 5*time.Minute)
						break
					}
				}
			})
		}
		wg.Wait()
		close(ids)
		ffWall = time.Since(start)
		seen := map[string]bool{}
		for id := range ids {
			if seen[id] {
				b.Fatalf("run %s twice", id)
			}
			seen[id] = true
			r, err := env.store.GetRun(ctx, id)
			if err != nil || r.Status != status.RunSuccess {
				b.Fatalf("run %s: %s %v", id, r.Status, err)
			}
		}
		if len(seen) != total {
			b.Fatalf("%d runs recorded, want %d", len(seen), total)
		}

		start = time.Now()
		work = make(chan struct{}, total)
		for range total {
			work <- struct{}{}
		}
		close(work)
		for range parallel {
			wg.Go(func() {
				for range work {
					dockerRun(b, env, "hello")
				}
			})
		}
		wg.Wait()
		rawWall = time.Since(start)
	}
	ratio := float64(ffWall) / float64(rawWall)
	b.ReportMetric(ffWall.Seconds(), "fastflow-s")
	b.ReportMetric(rawWall.Seconds(), "docker-run-s")
	b.ReportMetric(ratio, "ratio")
	b.Logf("200 runs, 10 at a time: Fast-Flow %s, docker run --rm %s, ratio %.2f (target <= 1.2)", ffWall.Round(time.Millisecond), rawWall.Round(time.Millisecond), ratio)
}

// TestHelperBenchProcess is not a test: BenchmarkOperatorMemory runs it as
// a separate process so its resident memory is the operator's alone.
func TestHelperBenchProcess(t *testing.T) {
	data, remote := os.Getenv("FASTFLOW_BENCH_DATA"), os.Getenv("FASTFLOW_BENCH_REMOTE")
	if data == "" {
		t.Skip("helper process only")
	}
	env := openRunEnv(t, gittest.Open(t, remote), data, nil, nil)
	ctx := context.Background()
	time.Sleep(2 * time.Second) // settle after start
	fmt.Println("IDLE_RSS_KB", rssKB())

	var ids []string
	for range 10 {
		r, err := env.op.RunPipeline(ctx, RunRequest{Pipeline: "sleepy"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	env.waitFor("10 runs going", time.Minute, func() bool { return env.labelledContainers(nil) == 10 })
	time.Sleep(3 * time.Second)
	fmt.Println("TEN_RUNS_RSS_KB", rssKB())
	for _, id := range ids {
		_ = env.op.CancelRun(ctx, id)
	}
	for _, id := range ids {
		env.waitFinal(id, time.Minute)
	}

	start := time.Now()
	r := env.run("chatty", nil, nil)
	lines, err := countFileLines(r.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("CHATTY", r.Status, lines, time.Since(start).Milliseconds())
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	fmt.Println("PEAK_RSS_KB", ru.Maxrss)
}

func rssKB() int64 { return procStatusKB("VmRSS:") }

func countFileLines(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	n := 0
	for sc.Scan() {
		n++
	}
	return n, sc.Err()
}

// BenchmarkOperatorMemory runs an operator in its own process and reports
// its idle RSS (target < 40 MB), RSS per running run with 10 going (target
// < 5 MB each), and peak RSS while a pipeline prints 1,000,000 lines
// (target < 150 MB, every line stored).
func BenchmarkOperatorMemory(b *testing.B) {
	requireWorkerImage(b)
	remote := gittest.New(b)
	remote.Commit("bench", benchPipelines)
	for b.Loop() {
		data := b.TempDir()
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperBenchProcess$", "-test.timeout=10m")
		cmd.Env = append(os.Environ(), "FASTFLOW_BENCH_DATA="+data, "FASTFLOW_BENCH_REMOTE="+remote.Dir)
		out, err := cmd.CombinedOutput()
		if err != nil {
			b.Fatalf("helper: %v\n%s", err, out)
		}
		fields := map[string][]string{}
		for _, line := range strings.Split(string(out), "\n") {
			if f := strings.Fields(line); len(f) > 1 {
				fields[f[0]] = f[1:]
			}
		}
		num := func(key string, i int) float64 {
			v, ok := fields[key]
			if !ok || len(v) <= i {
				b.Fatalf("helper output lacks %s:\n%s", key, out)
			}
			n, _ := strconv.ParseFloat(v[i], 64)
			return n
		}
		idle := num("IDLE_RSS_KB", 0) / 1024
		ten := num("TEN_RUNS_RSS_KB", 0) / 1024
		peak := num("PEAK_RSS_KB", 0) / 1024
		if fields["CHATTY"][0] != string(status.RunSuccess) || num("CHATTY", 1) != 1_000_000 {
			b.Fatalf("1,000,000-line run: %v", fields["CHATTY"])
		}
		b.ReportMetric(idle, "idle-MB")
		b.ReportMetric((ten-idle)/10, "MB/run")
		b.ReportMetric(peak, "peak-MB")
		b.ReportMetric(num("CHATTY", 2)/1000, "1M-lines-s")
		b.Logf("idle RSS %.1f MB (target < 40), %.2f MB per running run (target < 5), peak RSS %.1f MB with a 1,000,000-line run, all lines stored in %.1f s (target < 150 MB)",
			idle, (ten-idle)/10, peak, num("CHATTY", 2)/1000)
	}
}

// BenchmarkReconcile20: an operator killed with 20 runs (10 still going,
// 10 exited) and started again. Reports how long the new one takes to
// settle all of them. Target: under 5 s.
func BenchmarkReconcile20(b *testing.B) {
	requireWorkerImage(b)
	remote := gittest.New(b)
	remote.Commit("bench", benchPipelines)
	ctx := context.Background()
	for b.Loop() {
		data := b.TempDir()
		first := openRunEnv(b, remote, data, nil, func(c *Config) { c.MaxConcurrentRuns = 20 })
		var ids []string
		for i := range 20 {
			name := "sleepy"
			if i%2 == 0 {
				name = "napper"
			}
			r, err := first.op.RunPipeline(ctx, RunRequest{Pipeline: name})
			if err != nil {
				b.Fatal(err)
			}
			ids = append(ids, r.ID)
		}
		first.waitFor("20 containers", time.Minute, func() bool { return first.labelledContainers(nil) == 20 })
		// Detach (the default policy) is what a crash looks like to the
		// next start: the containers stay, the records say RUNNING.
		first.stop()
		time.Sleep(5 * time.Second) // the napper runs exit meanwhile

		start := time.Now()
		second := openRunEnv(b, remote, data, nil, func(c *Config) { c.MaxConcurrentRuns = 20 })
		took := time.Since(start)
		b.ReportMetric(took.Seconds(), "reconcile-s")
		b.Logf("restart with 20 labelled containers (10 running, 10 exited): settled in %s (target < 5 s)", took.Round(time.Millisecond))
		for _, id := range ids {
			_ = second.op.CancelRun(ctx, id)
		}
		for _, id := range ids {
			second.waitFinal(id, time.Minute)
		}
		second.stop()
	}
}

// BenchmarkSchedulerIdleCPU holds 1,000 pipelines with schedules (none due
// during the measurement) and reports the CPU the idle operator uses, as a
// percentage of one core (target: under 1 %).
func BenchmarkSchedulerIdleCPU(b *testing.B) {
	files := map[string]string{}
	for i := range 1000 {
		name := fmt.Sprintf("p%04d", i)
		files[name+"/main.py"] = "print('hi')\n"
		files[name+"/pipeline.json"] = fmt.Sprintf(`{"schedules": ["%d 3 * * *", {"cron": "0 0 1 1 *", "timezone": "Europe/Berlin"}]}`, i%60)
	}
	remote := gittest.New(b)
	remote.Commit("1000 scheduled pipelines", files)
	data := b.TempDir()
	// Nothing runs: a daemon that is not there keeps the figure the
	// scheduler's alone.
	rt, err := docker.New(docker.Config{Host: "unix://" + data + "/no-docker.sock"})
	if err != nil {
		b.Fatal(err)
	}
	openRunEnv(b, remote, data, rt, nil)
	time.Sleep(3 * time.Second) // let the start-up work (sync, pipeline rows) settle
	const idle = 10 * time.Second
	for b.Loop() {
		var before, after syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &before)
		time.Sleep(idle)
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &after)
		cpu := time.Duration(after.Utime.Nano()+after.Stime.Nano()-before.Utime.Nano()-before.Stime.Nano()) * time.Nanosecond
		pct := 100 * cpu.Seconds() / idle.Seconds()
		b.ReportMetric(pct, "%core")
		b.Logf("idle operator with 1,000 scheduled pipelines: %.3f %% of one core (%s CPU in %s; target < 1 %%)", pct, cpu, idle)
	}
}
