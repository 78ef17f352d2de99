package fake_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/fastflow-dev/fastflow/runtime"
	"github.com/fastflow-dev/fastflow/runtime/fake"
	"github.com/fastflow-dev/fastflow/runtime/runtimetest"
)

// driven returns a fake clock that a goroutine advances 20 ms every real
// millisecond until t ends: the suite's sleeps and graces pass twenty times
// faster, in steps, on the same Clock an operator test advances by hand.
func driven(t *testing.T) *fake.Clock {
	clk := fake.NewClock(time.Time{})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				clk.Advance(20 * time.Millisecond)
			}
		}
	})
	t.Cleanup(func() {
		close(stop)
		wg.Wait()
	})
	return clk
}

// render maps the suite's programs onto the fake's.
func render(t *testing.T, p runtimetest.Program) []string {
	if len(p) == 1 && p[0].Op == runtimetest.OpMissingCommand {
		// No program at all: the fake's own "command not found".
		return []string{"/nonexistent/command"}
	}
	var out fake.Program
	held := 0
	for _, s := range p {
		switch s.Op {
		case runtimetest.OpPrint:
			out = append(out, fake.Echo(s.Stream, s.Text))
		case runtimetest.OpPrintWorkDir:
			out = append(out, fake.PrintWorkDir(s.Text))
		case runtimetest.OpCat:
			out = append(out, fake.Cat(s.Path))
		case runtimetest.OpTryWrite:
			out = append(out, fake.TryWrite(s.Path, s.Text))
		case runtimetest.OpWrite:
			out = append(out, fake.Write(s.Path, s.Text))
		case runtimetest.OpPrintMemLimit:
			out = append(out, fake.PrintMemLimit(s.Text))
		case runtimetest.OpPrintMilliCPUs:
			out = append(out, fake.PrintMilliCPUs(s.Text))
		case runtimetest.OpHold:
			held = s.Bytes
			out = append(out, fake.SetMemory(int64(s.Bytes)))
		case runtimetest.OpPrintHeld:
			out = append(out, fake.Print(strconv.Itoa(held)))
		case runtimetest.OpSleep:
			out = append(out, fake.Sleep(s.Delay))
		case runtimetest.OpForever:
			out = append(out, fake.Forever())
		case runtimetest.OpExit:
			out = append(out, fake.Exit(s.Code))
		case runtimetest.OpAllocateBeyondLimit:
			out = append(out, fake.SetMemory(1<<62))
		case runtimetest.OpTrapTERM:
			out = append(out, fake.OnTERM(0, s.Code, s.Lines...))
		case runtimetest.OpIgnoreTERM:
			out = append(out, fake.IgnoreTERM())
		default:
			t.Fatalf("no fake step for %+v", s)
		}
	}
	return fake.Command(out)
}

func TestConformance(t *testing.T) {
	// A daemon that forgets removed containers (ForgetRemoved, as the
	// long benchmarks use it) is a runtime all the same.
	for _, forget := range []bool{false, true} {
		t.Run(fmt.Sprintf("forget removed %v", forget), func(t *testing.T) {
			clk := driven(t)
			d := fake.New(fake.Config{Clock: clk, Images: []string{"fake-probe"}, ForgetRemoved: forget})
			begin, fakeBegin := time.Now(), clk.Now()
			t.Cleanup(func() {
				t.Logf("conformance took %v of real time, %v on the fake clock", time.Since(begin), clk.Since(fakeBegin))
			})
			runtimetest.Run(t, runtimetest.Config{
				New:     func(*testing.T) runtime.Runtime { return d.Connect() },
				Image:   "fake-probe",
				Command: render,
				Now:     clk.Now,
				Probe:   func(_ *testing.T, p runtimetest.Probe) []string { return fake.FileProbe(p.Path, p.Healthy) },
			})
		})
	}
}

func TestSweeperConformance(t *testing.T) {
	t.Parallel()
	d := fake.New(fake.Config{})
	images := 0
	var mu sync.Mutex
	runtimetest.RunSweeper(t, runtimetest.SweeperConfig{
		New:          func(*testing.T) runtime.Sweeper { return d.Connect() },
		CreateVolume: func(_ *testing.T, name string, labels map[string]string) { d.AddVolume(name, labels) },
		CreateDanglingImage: func(_ *testing.T, labels map[string]string) string {
			mu.Lock()
			images++
			id := "sha256:fake" + strconv.Itoa(images)
			mu.Unlock()
			d.AddDanglingImage(id, labels)
			return id
		},
		Use: func(_ *testing.T, volume, image string) func() {
			d.SetInUse(volume+image, true)
			return func() { d.SetInUse(volume+image, false) }
		},
	})
}

// testCtx bounds a test's waits in real time; on the fake clock nothing
// should come near it.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// setup returns a fake daemon on a manual clock.
func setup(t *testing.T, cfg fake.Config) (*fake.Runtime, *fake.Clock) {
	t.Helper()
	clk := fake.NewClock(t0)
	cfg.Clock = clk
	rt := fake.New(cfg)
	t.Cleanup(func() { _ = rt.Close() })
	return rt, clk
}

func spec(runID string, p fake.Program) runtime.RunSpec {
	return runtime.RunSpec{RunID: runID, Pipeline: "pipe", Revision: "rev", Kind: "run", Image: "img", Command: fake.Command(p)}
}

func start(t *testing.T, rt runtime.Runtime, s runtime.RunSpec) string {
	t.Helper()
	id, err := rt.Start(testCtx(t), s)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	return id
}

// async runs f in a goroutine the test waits for, and returns its result.
func async[T any](t *testing.T, f func() T) <-chan T {
	ch := make(chan T, 1)
	var wg sync.WaitGroup
	wg.Go(func() { ch <- f() })
	t.Cleanup(wg.Wait)
	return ch
}

// pending asserts that ch has no value within a short real time.
func pending[T any](t *testing.T, ch <-chan T, what string) {
	t.Helper()
	select {
	case v := <-ch:
		t.Fatalf("%s returned %v, want it still blocked", what, v)
	case <-time.After(30 * time.Millisecond):
	}
}

// await returns the value on ch, failing after a real-time bound.
func await[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not return", what)
		panic("unreachable")
	}
}

type line struct {
	At     time.Duration // since t0
	Stream string
	Text   string
}

func lines(ls []runtime.LogLine) []line {
	out := make([]line, len(ls))
	for i, l := range ls {
		out[i] = line{l.Time.Sub(t0), l.Stream, l.Text}
	}
	return out
}

func readLogs(t *testing.T, rt runtime.Runtime, id string, opts runtime.LogOptions) []runtime.LogLine {
	t.Helper()
	ls, err := rt.Logs(testCtx(t), id, opts)
	if err != nil {
		t.Fatalf("Logs: %v", err)
	}
	defer ls.Close()
	var out []runtime.LogLine
	for {
		l, err := ls.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		out = append(out, l)
	}
}

func TestProgramStepsOnTheClock(t *testing.T) {
	t.Parallel()
	rt, clk := setup(t, fake.Config{})
	s := spec("r1", fake.Program{
		fake.Print("hello"),
		fake.Echo(fake.Stderr, "user=$USER ${USER}$$"),
		fake.Sleep(2 * time.Second),
		fake.Spam(2),
		fake.Sleep(time.Second),
		fake.Exit(3),
	})
	s.Env = map[string]string{"USER": "ann"}
	id := start(t, rt, s)

	// What comes before the first Sleep has run when Start returns.
	snap, _ := rt.Container(id)
	if diff := cmp.Diff([]string{"hello", "user=ann ann$"}, snap.Texts()); diff != "" {
		t.Fatalf("output at Start (-want +got):\n%s", diff)
	}
	wait := async(t, func() error { _, err := rt.Wait(testCtx(t), id); return err })
	clk.Advance(2*time.Second - time.Nanosecond)
	pending(t, wait, "Wait before the exit")
	clk.Advance(time.Hour)
	if err := await(t, wait, "Wait"); err != nil {
		t.Fatal(err)
	}
	want := []line{
		{0, "stdout", "hello"}, {0, "stderr", "user=ann ann$"},
		{2 * time.Second, "stdout", "line 1"}, {2 * time.Second, "stdout", "line 2"},
	}
	if diff := cmp.Diff(want, lines(readLogs(t, rt, id, runtime.LogOptions{}))); diff != "" {
		t.Errorf("logs (-want +got):\n%s", diff)
	}
	snap, _ = rt.Container(id)
	if snap.Exit == nil || snap.Exit.Code != 3 || !snap.Exit.FinishedAt.Equal(t0.Add(3*time.Second)) {
		t.Errorf("exit %+v, want 3 at t0+3s", snap.Exit)
	}
	since := readLogs(t, rt, id, runtime.LogOptions{Since: t0.Add(time.Second)})
	if got := len(since); got != 2 {
		t.Errorf("Since t0+1s: %d lines, want the 2 printed at t0+2s", got)
	}
}

func TestStop(t *testing.T) {
	t.Parallel()
	const grace = 5 * time.Second
	tests := []struct {
		name   string
		init   bool
		prog   fake.Program
		want   int
		after  time.Duration // the exit, since Stop
		output []string      // printed from the Stop on
	}{
		{"handler exits at once", false, fake.Program{fake.OnTERM(0, 0, "got TERM"), fake.Forever()}, 0, 0, []string{"got TERM"}},
		{"handler exits after a delay", false, fake.Program{fake.OnTERM(2*time.Second, 1, "bye"), fake.Sleep(time.Hour)}, 1, 2 * time.Second, []string{"bye"}},
		{"handler slower than the grace", false, fake.Program{fake.OnTERM(time.Minute, 0), fake.Forever()}, 137, grace, nil},
		{"ignored", true, fake.Program{fake.IgnoreTERM(), fake.Forever()}, 137, grace, nil},
		{"no handler with init", true, fake.Program{fake.Forever()}, 143, 0, nil},
		{"no handler as PID 1", false, fake.Program{fake.Forever()}, 137, grace, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rt, clk := setup(t, fake.Config{})
			s := spec("r", tt.prog)
			s.Init = tt.init
			id := start(t, rt, s)
			clk.Advance(time.Second)
			stopAt := clk.Now()
			stop := async(t, func() error { return rt.Stop(testCtx(t), id, grace) })
			if err := rt.WaitCalls(testCtx(t), fake.MethodStop, 1); err != nil {
				t.Fatal(err)
			}
			if tt.after > 0 {
				clk.Advance(tt.after - time.Nanosecond)
				pending(t, stop, "Stop")
				clk.Advance(time.Nanosecond)
			}
			if err := await(t, stop, "Stop"); err != nil {
				t.Fatalf("Stop: %v", err)
			}
			snap, _ := rt.Container(id)
			if snap.Exit == nil || snap.Exit.Code != tt.want || !snap.Exit.FinishedAt.Equal(stopAt.Add(tt.after)) {
				t.Errorf("exit %+v, want %d at Stop+%v", snap.Exit, tt.want, tt.after)
			}
			if !snap.Stopped || snap.StopGrace != grace {
				t.Errorf("Stopped %v with grace %v, want true and %v", snap.Stopped, snap.StopGrace, grace)
			}
			if diff := cmp.Diff(tt.output, snap.Texts(), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHangingStop(t *testing.T) {
	t.Parallel()
	rt, clk := setup(t, fake.Config{})
	id := start(t, rt, spec("r", fake.Program{fake.OnTERM(0, 0), fake.Forever()}))
	release := rt.Hang(fake.MethodStop)
	if again := rt.Hang(fake.MethodStop); again == nil {
		t.Fatal("a second Hang returned no release")
	}

	// The first Stop hangs until its context ends; the container is
	// untouched.
	ctx, cancel := context.WithCancel(context.Background())
	first := async(t, func() error { return rt.Stop(ctx, id, time.Second) })
	if err := rt.WaitCalls(testCtx(t), fake.MethodStop, 1); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Hour)
	pending(t, first, "hanging Stop")
	cancel()
	if err := await(t, first, "hanging Stop"); !errors.Is(err, context.Canceled) {
		t.Errorf("hanging Stop = %v, want context.Canceled", err)
	}
	if snap, _ := rt.Container(id); snap.State != runtime.StateRunning || snap.Stopped {
		t.Fatalf("after the hanging Stop the container is %s (stopped %v), want running", snap.State, snap.Stopped)
	}

	// The second goes on once released.
	second := async(t, func() error { return rt.Stop(testCtx(t), id, time.Second) })
	if err := rt.WaitCalls(testCtx(t), fake.MethodStop, 2); err != nil {
		t.Fatal(err)
	}
	pending(t, second, "hanging Stop")
	release()
	release() // idempotent
	if err := await(t, second, "released Stop"); err != nil {
		t.Errorf("released Stop = %v", err)
	}
	if snap, _ := rt.Container(id); snap.Exit == nil || snap.Exit.Code != 0 {
		t.Errorf("exit %+v, want the handler's 0", snap.Exit)
	}
	if err := rt.Stop(testCtx(t), id, time.Second); err != nil {
		t.Errorf("Stop after the release: %v", err)
	}
}

func TestDaemonDownAndBack(t *testing.T) {
	t.Parallel()
	rt, clk := setup(t, fake.Config{})
	id := start(t, rt, spec("r", fake.Program{
		fake.Print("before"), fake.Sleep(2 * time.Second),
		fake.Print("during the outage"), fake.Sleep(10 * time.Second),
		fake.Print("after"), fake.Exit(4),
	}))
	ctx := testCtx(t)
	logs, err := rt.Logs(ctx, id, runtime.LogOptions{Follow: true})
	if err != nil {
		t.Fatal(err)
	}
	defer logs.Close()
	if l, err := logs.Next(); err != nil || l.Text != "before" {
		t.Fatalf("first line %+v, %v", l, err)
	}
	stats, err := rt.Stats(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	defer stats.Close()
	if _, err := stats.Next(); err != nil {
		t.Fatalf("first sample: %v", err)
	}
	wait := async(t, func() error { _, err := rt.Wait(ctx, id); return err })
	next := async(t, func() error { _, err := logs.Next(); return err })
	sample := async(t, func() error { _, err := stats.Next(); return err })
	if err := rt.WaitCalls(ctx, fake.MethodWait, 1); err != nil {
		t.Fatal(err)
	}

	rt.SetAvailable(false)
	for what, ch := range map[string]<-chan error{"Wait": wait, "Logs.Next": next, "Stats.Next": sample} {
		if err := await(t, ch, what); !errors.Is(err, runtime.ErrUnavailable) {
			t.Errorf("%s across the outage = %v, want ErrUnavailable", what, err)
		}
	}
	calls := map[string]func() error{
		"Start":  func() error { _, err := rt.Start(ctx, spec("other", nil)); return err },
		"Logs":   func() error { _, err := rt.Logs(ctx, id, runtime.LogOptions{}); return err },
		"Stats":  func() error { _, err := rt.Stats(ctx, id); return err },
		"Wait":   func() error { _, err := rt.Wait(ctx, id); return err },
		"Stop":   func() error { return rt.Stop(ctx, id, 0) },
		"Remove": func() error { return rt.Remove(ctx, id) },
		"List":   func() error { _, err := rt.List(ctx, nil); return err },
		"Ping":   func() error { return rt.Ping(ctx) },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, runtime.ErrUnavailable) || !errors.Is(err, fake.ErrDown) {
			t.Errorf("%s while down = %v, want ErrDown wrapping ErrUnavailable", name, err)
		}
	}
	// The container goes on meanwhile.
	clk.Advance(5 * time.Second)

	rt.SetAvailable(true)
	if _, err := logs.Next(); !errors.Is(err, runtime.ErrUnavailable) {
		t.Errorf("a stream the outage broke, after it: %v, want still ErrUnavailable", err)
	}
	// Re-attach through a new client, as the restarted operator would.
	again := rt.Connect()
	defer again.Close()
	found, err := again.List(ctx, map[string]string{runtime.LabelRunID: "r"})
	if err != nil || len(found) != 1 || found[0].ID != id || found[0].State != runtime.StateRunning {
		t.Fatalf("List after the outage = %+v, %v; want the running container", found, err)
	}
	resumed := async(t, func() []runtime.LogLine {
		return readLogs(t, again, id, runtime.LogOptions{Since: t0.Add(time.Second), Follow: true})
	})
	clk.Advance(time.Hour)
	want := []line{{2 * time.Second, "stdout", "during the outage"}, {12 * time.Second, "stdout", "after"}}
	if diff := cmp.Diff(want, lines(await(t, resumed, "resumed logs"))); diff != "" {
		t.Errorf("resumed logs (-want +got):\n%s", diff)
	}
	if st, err := again.Wait(ctx, id); err != nil || st.Code != 4 {
		t.Errorf("Wait after the outage = %+v, %v; want 4", st, err)
	}
}

func TestDaemonDiesWithItsContainers(t *testing.T) {
	t.Parallel()
	rt, _ := setup(t, fake.Config{})
	id := start(t, rt, spec("r", fake.Program{fake.Forever()}))
	rt.SetAvailable(false)
	rt.KillAll()
	rt.SetAvailable(true)
	found, err := rt.List(testCtx(t), nil)
	if err != nil || len(found) != 1 || found[0].ID != id || found[0].Exit == nil || found[0].Exit.Code != 137 {
		t.Fatalf("List = %+v, %v; want the container killed", found, err)
	}
}

func TestQuietContainer(t *testing.T) {
	t.Parallel()
	rt, clk := setup(t, fake.Config{})
	id := start(t, rt, spec("r", fake.Program{fake.Print("started"), fake.SetMemory(10 << 20), fake.Forever()}))
	ctx := testCtx(t)
	logs, err := rt.Logs(ctx, id, runtime.LogOptions{Follow: true})
	if err != nil {
		t.Fatal(err)
	}
	defer logs.Close()
	if l, err := logs.Next(); err != nil || l.Text != "started" {
		t.Fatalf("first line %+v, %v", l, err)
	}
	stats, err := rt.Stats(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	defer stats.Close()
	next := async(t, func() error { _, err := logs.Next(); return err })

	clk.Advance(3 * time.Second)
	pending(t, next, "Logs.Next of a quiet container")
	// Still running and sampled: one sample at once, one a second.
	for i := range 4 {
		smp, err := stats.Next()
		if err != nil || smp.MemoryBytes != 10<<20 || !smp.Time.Equal(t0.Add(time.Duration(i)*time.Second)) {
			t.Fatalf("sample %d = %+v, %v; want 10 MiB at t0+%ds", i, smp, err, i)
		}
	}
	if snap, _ := rt.Container(id); snap.State != runtime.StateRunning {
		t.Fatalf("state %s, want running", snap.State)
	}

	if err := rt.Finish(id, 0); err != nil {
		t.Fatal(err)
	}
	if err := await(t, next, "Logs.Next"); !errors.Is(err, io.EOF) {
		t.Errorf("Logs.Next after the exit = %v, want io.EOF", err)
	}
	if _, err := stats.Next(); !errors.Is(err, io.EOF) {
		t.Errorf("Stats.Next after the exit = %v, want io.EOF", err)
	}
	if err := rt.Emit(id, fake.Stdout, "late"); err == nil {
		t.Error("Emit on an exited container returned nil")
	}
}

func TestStatsAccounting(t *testing.T) {
	t.Parallel()
	rt, clk := setup(t, fake.Config{CPUs: 2})
	s := spec("r", fake.Program{fake.SetCPU(1500), fake.SetMemory(1 << 20), fake.Sleep(2 * time.Second), fake.SetMemory(3 << 20), fake.Forever()})
	s.Limits = runtime.Limits{NanoCPUs: 1_000_000_000, MemoryBytes: 64 << 20}
	id := start(t, rt, s)
	st, err := rt.Stats(testCtx(t), id)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	clk.Advance(4 * time.Second)
	var got []runtime.Sample
	for range 5 {
		smp, err := st.Next()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, smp)
	}
	first, last := got[0], got[4]
	if first.MemoryBytes != 1<<20 || last.MemoryBytes != 3<<20 || last.MemoryLimitBytes != 64<<20 || last.OnlineCPUs != 2 {
		t.Errorf("memory %d then %d of %d, %d CPUs; want 1 MiB then 3 MiB of 64 MiB, 2 CPUs", first.MemoryBytes, last.MemoryBytes, last.MemoryLimitBytes, last.OnlineCPUs)
	}
	// 1.5 CPUs wanted, held to the limit of 1: 50% of a 2-CPU host.
	cpu := float64(last.CPUTotalNs-first.CPUTotalNs) / float64(last.SystemCPUNs-first.SystemCPUNs) * 100
	if cpu != 50 {
		t.Errorf("CPU %.1f%% of the host, want 50%%", cpu)
	}
	if last.TotalPeriods != 40 || last.ThrottledPeriods != 40 {
		t.Errorf("throttled %d of %d periods, want 40 of 40", last.ThrottledPeriods, last.TotalPeriods)
	}

	// Past its memory limit it is OOM-killed.
	oom := spec("oom", fake.Program{fake.SetMemory(65 << 20)})
	oom.Limits.MemoryBytes = 64 << 20
	if st, err := rt.Wait(testCtx(t), start(t, rt, oom)); err != nil || st.Code != 137 || !st.OOMKilled {
		t.Errorf("Wait = %+v, %v; want 137 OOMKilled", st, err)
	}
}

func TestStartErrors(t *testing.T) {
	t.Parallel()
	rt, _ := setup(t, fake.Config{Images: []string{"img"}})
	ctx := testCtx(t)
	id := start(t, rt, spec("r", fake.Program{fake.Forever()}))
	if _, err := rt.Start(ctx, spec("r", nil)); !errors.Is(err, fake.ErrRunExists) {
		t.Errorf("second Start of a run = %v, want ErrRunExists", err)
	}
	if err := rt.Remove(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.Start(ctx, spec("r", nil)); err != nil {
		t.Errorf("Start of a run whose container was removed: %v", err)
	}

	missing := spec("m", nil)
	missing.Image = "not-there:1"
	if _, err := rt.Start(ctx, missing); !errors.Is(err, runtime.ErrImage) || !strings.Contains(err.Error(), "not-there:1") {
		t.Errorf("Start of an unknown image = %v, want ErrImage naming it", err)
	}
	for name, mod := range map[string]func(*runtime.RunSpec){
		"empty run ID":         func(s *runtime.RunSpec) { s.RunID = "" },
		"run ID with a slash":  func(s *runtime.RunSpec) { s.RunID = "a/b" },
		"negative memory":      func(s *runtime.RunSpec) { s.Limits.MemoryBytes = -1 },
		"code without folder":  func(s *runtime.RunSpec) { s.Code = &runtime.Code{Revision: "abcdef1", Target: "/code"} },
		"cache without folder": func(s *runtime.RunSpec) { s.Caches = []runtime.Cache{{Name: runtime.CacheUV, Target: "/uv"}} },
		"unknown step":         func(s *runtime.RunSpec) { s.Command = fake.Command(fake.Program{{Op: "dance"}}) },
		"bad program":          func(s *runtime.RunSpec) { s.Command = []string{fake.ProgramCommand, "{"} },
	} {
		s := spec("bad-"+strings.ReplaceAll(name, " ", "-"), nil)
		mod(&s)
		if _, err := rt.Start(ctx, s); !errors.Is(err, fake.ErrInvalidSpec) {
			t.Errorf("%s: Start = %v, want ErrInvalidSpec", name, err)
		}
	}
	noSource := spec("no-source", nil)
	noSource.Mounts = []runtime.Mount{{Source: filepath.Join(t.TempDir(), "missing"), Target: "/x"}}
	if _, err := rt.Start(ctx, noSource); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Start with a missing mount source = %v, want ErrNotExist", err)
	}
	if found, _ := rt.List(ctx, map[string]string{runtime.LabelPipeline: "pipe"}); len(found) != 1 {
		t.Errorf("List = %+v, want only the one good container: a failed Start leaves none", found)
	}
}

func TestProgramResolver(t *testing.T) {
	t.Parallel()
	rt, _ := setup(t, fake.Config{Program: func(s runtime.RunSpec) fake.Program {
		if s.Pipeline == "known" {
			return fake.Program{fake.Echo(fake.Stdout, "hi $WHO"), fake.Exit(2)}
		}
		return nil
	}})
	ctx := testCtx(t)
	known := runtime.RunSpec{RunID: "k", Pipeline: "known", Image: "img", Command: []string{"uv", "run", "main.py"}, Env: map[string]string{"WHO": "you"}}
	if st, err := rt.Wait(ctx, start(t, rt, known)); err != nil || st.Code != 2 {
		t.Errorf("resolved program: Wait = %+v, %v; want 2", st, err)
	}
	if snap, _ := rt.ContainerOfRun("k"); !cmp.Equal(snap.Texts(), []string{"hi you"}) {
		t.Errorf("output %q", snap.Texts())
	}
	unknown := known
	unknown.RunID, unknown.Pipeline = "u", "unknown"
	id := start(t, rt, unknown)
	st, err := rt.Wait(ctx, id)
	if err != nil || st.Code != 127 || st.Error == "" {
		t.Errorf("unresolved command: Wait = %+v, %v; want 127 with a reason", st, err)
	}
	rt.SetProgram(func(runtime.RunSpec) fake.Program { return fake.Program{fake.Exit(9)} })
	unknown.RunID = "u2"
	if st, err := rt.Wait(ctx, start(t, rt, unknown)); err != nil || st.Code != 9 {
		t.Errorf("after SetProgram: Wait = %+v, %v; want 9", st, err)
	}
}

func TestCodeCachesAndMounts(t *testing.T) {
	t.Parallel()
	revs, cache, extra := t.TempDir(), filepath.Join(t.TempDir(), "uv"), t.TempDir()
	const sha = "0123456789abcdef0123456789abcdef01234567"
	if err := os.MkdirAll(filepath.Join(revs, sha, "pipe"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(revs, sha, "pipe", "main.py"), []byte("print('hi')\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rt, _ := setup(t, fake.Config{RevisionsDir: revs, CacheDirs: map[string]string{runtime.CacheUV: cache}})
	s := spec("r", fake.Program{
		fake.PrintWorkDir("wd="),
		fake.Cat("main.py"), // relative to the working directory
		fake.TryWrite("/code/pipe/new.py", "code="),
		fake.Write("/code/pipe/main.py", "overwritten"),
		fake.Write("/uv/wheel", "cached"),
		fake.Write("/extra/ro/x", "no"),
		fake.Write("/tmp/scratch", "inside"),
		fake.Cat("/tmp/scratch"),
		fake.Cat("/nowhere"),
	})
	s.Code = &runtime.Code{Revision: sha, Pipeline: "pipe", Target: "/code"}
	s.WorkDir = "/code/pipe"
	s.Caches = []runtime.Cache{{Name: runtime.CacheUV, Target: "/uv"}}
	s.Mounts = []runtime.Mount{{Source: extra, Target: "/extra/ro", ReadOnly: true}}
	id := start(t, rt, s)
	if _, err := rt.Wait(testCtx(t), id); err != nil {
		t.Fatal(err)
	}
	snap, _ := rt.Container(id)
	want := []string{
		"wd=/code/pipe",
		"print('hi')",
		"code=denied",
		"sh: can't create /code/pipe/main.py: Read-only file system",
		"sh: can't create /extra/ro/x: Read-only file system",
		"inside",
		"cat: can't open '/nowhere': No such file or directory",
	}
	if diff := cmp.Diff(want, snap.Texts()); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
	if b, err := os.ReadFile(filepath.Join(cache, "wheel")); err != nil || string(b) != "cached\n" {
		t.Errorf("cache file %q, %v", b, err)
	}
	if b, _ := os.ReadFile(filepath.Join(revs, sha, "pipe", "main.py")); string(b) != "print('hi')\n" {
		t.Errorf("the read-only code was changed: %q", b)
	}
	wantMounts := []runtime.Mount{
		{Source: filepath.Join(revs, sha), Target: "/code", ReadOnly: true},
		{Source: cache, Target: "/uv"},
		{Source: extra, Target: "/extra/ro", ReadOnly: true},
	}
	if diff := cmp.Diff(wantMounts, snap.Mounts); diff != "" {
		t.Errorf("mounts (-want +got):\n%s", diff)
	}
}

func TestInjectedFaults(t *testing.T) {
	t.Parallel()
	rt, _ := setup(t, fake.Config{})
	ctx := testCtx(t)
	boom := errors.New("boom")
	rt.Fail(fake.MethodStart, runtime.ErrImage)
	if _, err := rt.Start(ctx, spec("r", nil)); !errors.Is(err, runtime.ErrImage) {
		t.Errorf("Start = %v, want the injected ErrImage", err)
	}
	rt.Fail(fake.MethodStart, nil)
	id := start(t, rt, spec("r", fake.Program{fake.Exit(1)}))

	rt.FailNext(fake.MethodWait, boom, nil, runtime.ErrUnavailable)
	var got []error
	for range 4 {
		_, err := rt.Wait(ctx, id)
		got = append(got, err)
	}
	if !errors.Is(got[0], boom) || got[1] != nil || !errors.Is(got[2], runtime.ErrUnavailable) || got[3] != nil {
		t.Errorf("Waits = %v, want boom, nil, ErrUnavailable, nil", got)
	}
	if n := rt.Calls(fake.MethodWait); n != 4 {
		t.Errorf("Calls(Wait) = %d, want 4", n)
	}
	if snap, _ := rt.Container(id); snap.Calls[fake.MethodWait] != 4 || snap.Calls[fake.MethodStart] != 1 {
		t.Errorf("the container's calls = %v, want 4 Waits and its Start", snap.Calls)
	}
}

func TestCloseEndsOnlyThatClient(t *testing.T) {
	t.Parallel()
	rt, _ := setup(t, fake.Config{})
	ctx := testCtx(t)
	other := rt.Connect()
	id := start(t, other, spec("r", fake.Program{fake.Forever()}))
	logs, err := other.Logs(ctx, id, runtime.LogOptions{Follow: true})
	if err != nil {
		t.Fatal(err)
	}
	next := async(t, func() error { _, err := logs.Next(); return err })
	if err := other.Close(); err != nil {
		t.Fatal(err)
	}
	if err := other.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := await(t, next, "Next"); !errors.Is(err, fake.ErrClosed) {
		t.Errorf("Next on a closed client = %v, want ErrClosed", err)
	}
	if _, err := other.List(ctx, nil); !errors.Is(err, fake.ErrClosed) {
		t.Errorf("List on a closed client = %v, want ErrClosed", err)
	}
	if found, err := rt.List(ctx, nil); err != nil || len(found) != 1 || found[0].State != runtime.StateRunning {
		t.Errorf("List on the other client = %+v, %v; want the container running on", found, err)
	}
}

func TestVanish(t *testing.T) {
	t.Parallel()
	rt, _ := setup(t, fake.Config{})
	ctx := testCtx(t)
	id := start(t, rt, spec("r", fake.Program{fake.Forever()}))
	wait := async(t, func() error { _, err := rt.Wait(ctx, id); return err })
	if err := rt.WaitCalls(ctx, fake.MethodWait, 1); err != nil {
		t.Fatal(err)
	}
	if err := rt.Vanish(id); err != nil {
		t.Fatal(err)
	}
	if err := await(t, wait, "Wait"); err != nil {
		t.Errorf("Wait across the vanishing = %v, want the kill's status", err)
	}
	if _, err := rt.Wait(ctx, id); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("Wait after = %v, want ErrNotFound", err)
	}
	snap, ok := rt.Container(id)
	if !ok || !snap.Removed || snap.Calls[fake.MethodRemove] != 0 {
		t.Errorf("snapshot %+v, want removed without a Remove call", snap)
	}
}

// TestForgetRemoved: with ForgetRemoved a removed container leaves no
// trace in the daemon, as in Docker, while one that still exists is kept
// whatever its state; its run can start again.
func TestForgetRemoved(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		forget bool
		want   int // snapshots left after one of two exited containers is removed
	}{
		{"kept by default", false, 2},
		{"forgotten", true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rt, _ := setup(t, fake.Config{ForgetRemoved: tt.forget})
			ctx := testCtx(t)
			gone := start(t, rt, spec("r1", fake.Program{fake.Exit(0)}))
			exited := start(t, rt, spec("r2", fake.Program{fake.Exit(3)}))
			for _, id := range []string{gone, exited} {
				if _, err := rt.Wait(ctx, id); err != nil {
					t.Fatal(err)
				}
			}
			if err := rt.Remove(ctx, gone); err != nil {
				t.Fatal(err)
			}
			if got := len(rt.Containers()); got != tt.want {
				t.Errorf("%d snapshots after Remove, want %d", got, tt.want)
			}
			if snap, ok := rt.Container(gone); ok != !tt.forget || (ok && !snap.Removed) {
				t.Errorf("Container(removed) = %+v, %v", snap, ok)
			}
			if snap, ok := rt.Container(exited); !ok || snap.Exit == nil || snap.Exit.Code != 3 {
				t.Errorf("Container(exited, not removed) = %+v, %v; want it with exit 3", snap, ok)
			}
			if cs, err := rt.List(ctx, nil); err != nil || len(cs) != 1 || cs[0].ID != exited {
				t.Errorf("List = %v, %v; want only %s", cs, err, exited)
			}
			if _, err := rt.Wait(ctx, gone); !errors.Is(err, runtime.ErrNotFound) {
				t.Errorf("Wait(removed) = %v, want ErrNotFound", err)
			}
			again := start(t, rt, spec("r1", fake.Program{fake.Exit(0)}))
			if again == gone {
				t.Errorf("a new container of run r1 reuses the ID %s", gone)
			}
		})
	}
}

// TestRealTime runs a short program without a clock: the default is the
// wall clock.
func TestRealTime(t *testing.T) {
	t.Parallel()
	rt := fake.New(fake.Config{})
	defer rt.Close()
	id := start(t, rt, spec("r", fake.Program{fake.Print("a"), fake.Sleep(30 * time.Millisecond), fake.Print("b")}))
	if st, err := rt.Wait(testCtx(t), id); err != nil || st.Code != 0 {
		t.Fatalf("Wait = %+v, %v", st, err)
	}
	ls := readLogs(t, rt, id, runtime.LogOptions{})
	if len(ls) != 2 || ls[1].Time.Sub(ls[0].Time) < 30*time.Millisecond {
		t.Errorf("lines %+v, want two 30 ms apart", ls)
	}
}

// TestHealthCheck: the image's health check applies unless the spec has
// one; failures inside the start period do not count; a command that is
// not FileProbe's is refused.
func TestHealthCheck(t *testing.T) {
	t.Parallel()
	probe := runtime.HealthCheck{Command: fake.FileProbe("/health", "ok"), Interval: time.Second, StartPeriod: 5 * time.Second, Retries: 1}
	tests := []struct {
		name  string
		spec  *runtime.HealthCheck
		after time.Duration
		want  runtime.HealthState
	}{
		{"the image's, still starting in its start period", nil, 4 * time.Second, runtime.HealthStarting},
		{"the image's, unhealthy after its start period", nil, 6 * time.Second, runtime.HealthUnhealthy},
		{"the spec's replaces the image's", &runtime.HealthCheck{Command: fake.FileProbe("/health", "broken"), Interval: time.Second}, 2 * time.Second, runtime.HealthHealthy},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := fake.NewClock(time.Time{})
			rt := fake.New(fake.Config{Clock: clk, HealthChecks: map[string]runtime.HealthCheck{"img": probe}})
			spec := runtime.RunSpec{RunID: "h1", Image: "img", HealthCheck: tt.spec,
				Command: fake.Command(fake.Program{fake.Write("/health", "broken"), fake.Forever()})}
			id, err := rt.Start(testCtx(t), spec)
			if err != nil {
				t.Fatal(err)
			}
			clk.Advance(tt.after)
			h, err := rt.Health(testCtx(t), id)
			if err != nil || h.State != tt.want {
				t.Errorf("Health = %+v, %v; want %s", h, err, tt.want)
			}
		})
	}
	t.Run("a command that is not FileProbe's is refused", func(t *testing.T) {
		t.Parallel()
		rt := fake.New(fake.Config{})
		spec := runtime.RunSpec{RunID: "h2", Image: "img", Command: fake.Command(fake.Program{fake.Forever()}),
			HealthCheck: &runtime.HealthCheck{Command: []string{"curl", "-f", "localhost"}}}
		if _, err := rt.Start(testCtx(t), spec); !errors.Is(err, fake.ErrInvalidSpec) {
			t.Errorf("Start = %v, want ErrInvalidSpec", err)
		}
	})
}
