package runtimetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fastflow-dev/fastflow/runtime"
)

// Config says how to run the suite against one backend.
type Config struct {
	// New returns a fresh Runtime. The suite calls it once for most
	// subtests and again to re-attach, as an operator restarting would;
	// it closes every Runtime New returns.
	New func(t *testing.T) runtime.Runtime
	// Image holds a POSIX sh and busybox tools; it must be present already
	// or pullable by the backend.
	Image string
	// Network is RunSpec.Network for every container; "" means "none":
	// the suite's containers never need the network.
	Network string
	// Labels are added to every container the suite starts, so a caller
	// can find what its own tests left behind.
	Labels map[string]string
	// Command renders a Program into the command of a container. Nil is
	// Shell: a POSIX sh script, for every backend that runs the image's
	// own shell (Docker, Kubernetes). A backend that runs no shell, such
	// as the fake, renders the Program into its own form.
	Command func(t *testing.T, p Program) []string
	// Now is the clock the backend stamps its lines and exits with, which
	// the suite also times its calls with. Nil is time.Now. A backend
	// running on a faster clock (the fake on a test's clock) passes that
	// clock, so the suite's bounds on how long a Stop or a Wait may take
	// hold in the backend's time.
	Now func() time.Time
	// Probe renders a health check's Probe into its command. Nil is
	// ShellProbe. Only backends that are a runtime.HealthReporter run the
	// health cases.
	Probe func(t *testing.T, p Probe) []string
}

// opTimeout bounds each call into the backend and each wait for a container
// the suite expects to end by itself; the slowest command runs about 3 s.
const opTimeout = 60 * time.Second

// kind is the LabelKind of the suite's containers.
const kind = "conformance"

// memLimit is the memory limit of the limited containers: low enough for a
// busybox allocation to cross it in a fraction of a second, well above the
// daemon's minimum.
const memLimit = 48 << 20

// Run runs the conformance suite. Its subtests run in parallel.
func Run(t *testing.T, cfg Config) {
	t.Helper()
	if cfg.New == nil || cfg.Image == "" {
		t.Fatal("runtimetest: Config needs New and Image")
	}
	if cfg.Network == "" {
		cfg.Network = "none"
	}
	if cfg.Command == nil {
		cfg.Command = func(_ *testing.T, p Program) []string { return Shell(p) }
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Probe == nil {
		cfg.Probe = func(_ *testing.T, p Probe) []string { return ShellProbe(p) }
	}
	s := &suite{cfg: cfg, rt: open(t, cfg)}
	tests := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"StartWithSpec", s.testStartWithSpec},
		{"LogsInOrder", s.testLogsInOrder},
		{"LogsResumeSince", s.testLogsResumeSince},
		{"Stats", s.testStats},
		{"WaitExitCode", s.testWaitExitCode},
		{"OOM", s.testOOM},
		{"CommandNotFound", s.testCommandNotFound},
		{"StopGraceful", s.testStopGraceful},
		{"StopKillsAfterGrace", s.testStopKillsAfterGrace},
		{"ListByLabel", s.testListByLabel},
		{"Reattach", s.testReattach},
		{"RemoveIdempotent", s.testRemoveIdempotent},
		{"UnknownID", s.testUnknownID},
	}
	if _, ok := s.rt.(runtime.HealthReporter); ok {
		tests = append(tests, struct {
			name string
			run  func(t *testing.T)
		}{"Health", s.testHealth})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(t)
		})
	}
}

type suite struct {
	cfg Config
	rt  runtime.Runtime
}

// open returns a Runtime from cfg.New, closed when t ends.
func open(t *testing.T, cfg Config) runtime.Runtime {
	t.Helper()
	rt := cfg.New(t)
	t.Cleanup(func() {
		if err := rt.Close(); err != nil {
			t.Errorf("close runtime: %v", err)
		}
	})
	return rt
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	t.Cleanup(cancel)
	return ctx
}

func randomID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// spec returns a RunSpec running prog with a fresh run ID.
func (s *suite) spec(t *testing.T, prog Program) runtime.RunSpec {
	labels := map[string]string{"fastflow-test": "1"}
	maps.Copy(labels, s.cfg.Labels)
	return runtime.RunSpec{
		RunID:    "conf-" + randomID(),
		Pipeline: "conformance",
		Revision: "rev-" + strings.ToLower(strings.NewReplacer("/", "-", " ", "-").Replace(t.Name())),
		// Not "run": an operator reconciling the same daemon (its own
		// tests, say) reaps unknown "run" containers, and must not take
		// the suite's.
		Kind:    kind,
		Image:   s.cfg.Image,
		Command: s.cfg.Command(t, prog),
		Labels:  labels,
		Network: s.cfg.Network,
	}
}

// start starts spec on rt and removes its container when t ends, also when
// Start failed halfway.
func (s *suite) start(t *testing.T, rt runtime.Runtime, spec runtime.RunSpec) string {
	t.Helper()
	t.Cleanup(func() { s.removeRun(t, spec.RunID) })
	id, err := rt.Start(ctxFor(t), spec)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if id == "" {
		t.Fatal("Start returned an empty ID")
	}
	return id
}

// removeRun removes every container of runID, through the suite's own
// Runtime, which outlives the ones subtests open.
func (s *suite) removeRun(t *testing.T, runID string) {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	found, err := s.rt.List(ctx, map[string]string{runtime.LabelRunID: runID})
	if err != nil {
		t.Errorf("cleanup: list run %s: %v", runID, err)
		return
	}
	for _, c := range found {
		if err := s.rt.Remove(ctx, c.ID); err != nil {
			t.Errorf("cleanup: remove %s: %v", c.ID, err)
		}
	}
}

// readAll follows the logs of id from opts until they end.
func readAll(t *testing.T, rt runtime.Runtime, id string, opts runtime.LogOptions) []runtime.LogLine {
	t.Helper()
	ls, err := rt.Logs(ctxFor(t), id, opts)
	if err != nil {
		t.Fatalf("Logs: %v", err)
	}
	defer ls.Close()
	return drain(t, ls)
}

// drain reads ls to its end.
func drain(t *testing.T, ls runtime.LogStream) []runtime.LogLine {
	t.Helper()
	var lines []runtime.LogLine
	for {
		l, err := ls.Next()
		if errors.Is(err, io.EOF) {
			return lines
		}
		if err != nil {
			t.Fatalf("Logs.Next after %d lines: %v", len(lines), err)
		}
		lines = append(lines, l)
	}
}

// waitFor reads ls until a line with text appears.
func waitFor(t *testing.T, ls runtime.LogStream, text string) []runtime.LogLine {
	t.Helper()
	var lines []runtime.LogLine
	for {
		l, err := ls.Next()
		if err != nil {
			t.Fatalf("waiting for %q in the logs (got %v): %v", text, texts(lines), err)
		}
		lines = append(lines, l)
		if l.Text == text {
			return lines
		}
	}
}

func wait(t *testing.T, rt runtime.Runtime, id string) runtime.ExitStatus {
	t.Helper()
	st, err := rt.Wait(ctxFor(t), id)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	return st
}

func texts(lines []runtime.LogLine) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = l.Text
	}
	return out
}

// line is a LogLine without its time, for comparing output.
type line struct{ Stream, Text string }

func strip(lines []runtime.LogLine) []line {
	out := make([]line, len(lines))
	for i, l := range lines {
		out[i] = line{l.Stream, l.Text}
	}
	return out
}

func (s *suite) testStartWithSpec(t *testing.T) {
	in, out := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(in, "hello.txt"), []byte("from the host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := s.spec(t, Program{
		Print("stdout", "A=$FF_A"),
		Print("stdout", "B=$FF_B"),
		PrintWorkDir("pwd="),
		Cat("/in/hello.txt"),
		TryWrite("/in/new", "ro="),
		Write("/out/result.txt", "written"),
		PrintMemLimit("mem="),
		PrintMilliCPUs("millicpus="),
	})
	spec.Env = map[string]string{"FF_A": "alpha", "FF_B": "with space = and 'quotes'"}
	spec.WorkDir = "/work/dir"
	spec.Mounts = []runtime.Mount{
		{Source: in, Target: "/in", ReadOnly: true},
		{Source: out, Target: "/out"},
	}
	spec.Limits = runtime.Limits{MemoryBytes: memLimit, NanoCPUs: 500_000_000}
	spec.Labels["fastflow-test-custom"] = "yes"
	spec.Labels[runtime.LabelPipeline] = "spoofed" // the runtime's own label must win

	id := s.start(t, s.rt, spec)
	if st := wait(t, s.rt, id); st.Code != 0 {
		t.Fatalf("exit %+v, want 0", st)
	}
	got := texts(readAll(t, s.rt, id, runtime.LogOptions{}))
	want := []string{
		"A=alpha",
		"B=with space = and 'quotes'",
		"pwd=/work/dir",
		"from the host",
		"ro=denied",
		fmt.Sprintf("mem=%d", memLimit),
		"millicpus=500",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
	if b, err := os.ReadFile(filepath.Join(out, "result.txt")); err != nil || string(b) != "written\n" {
		t.Errorf("file written to the rw mount: %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(in, "new")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the read-only mount was written to: %v", err)
	}

	found, err := s.rt.List(ctxFor(t), map[string]string{runtime.LabelRunID: spec.RunID})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(found) != 1 {
		t.Fatalf("List by run ID found %d containers, want 1", len(found))
	}
	c := found[0]
	if c.ID != id || c.RunID != spec.RunID || c.Pipeline != "conformance" || c.Revision != spec.Revision || c.Kind != kind {
		t.Errorf("List = %+v, want ID %s, run %s, pipeline conformance, revision %s, kind %s", c, id, spec.RunID, spec.Revision, kind)
	}
	if c.Labels["fastflow-test-custom"] != "yes" || c.Labels[runtime.LabelPipeline] != "conformance" {
		t.Errorf("labels = %v, want the spec's custom label and the runtime's pipeline label", c.Labels)
	}
}

func (s *suite) testLogsInOrder(t *testing.T) {
	// The sleeps order the writes in time: stdout and stderr are separate
	// pipes, so only writes apart in time have an order to keep.
	var prog Program
	for i := 1; i <= 5; i++ {
		prog = append(prog,
			Print("stdout", fmt.Sprintf("out %d", i)), Sleep(50*time.Millisecond),
			Print("stderr", fmt.Sprintf("err %d", i)), Sleep(50*time.Millisecond))
	}
	prog = append(prog, Print("stdout", ""), PrintPartial("stdout", "last, without newline"))
	spec := s.spec(t, prog)
	id := s.start(t, s.rt, spec)
	lines := readAll(t, s.rt, id, runtime.LogOptions{Follow: true})

	var want []line
	for i := 1; i <= 5; i++ {
		want = append(want, line{"stdout", fmt.Sprintf("out %d", i)}, line{"stderr", fmt.Sprintf("err %d", i)})
	}
	want = append(want, line{"stdout", ""}, line{"stdout", "last, without newline"})
	if diff := cmp.Diff(want, strip(lines)); diff != "" {
		t.Fatalf("followed logs (-want +got):\n%s", diff)
	}
	for i, l := range lines {
		if l.Time.IsZero() {
			t.Errorf("line %d has no time", i)
		}
		if i > 0 && l.Time.Before(lines[i-1].Time) {
			t.Errorf("line %d at %v is before line %d at %v", i, l.Time, i-1, lines[i-1].Time)
		}
	}

	// Once the container is done, a plain read gives the same lines. A
	// stream followed from the start may stamp lines on arrival (the Docker
	// backend attaches for a lossless live stream), so only the stored
	// read's times are what Since compares with.
	stored := readAll(t, s.rt, id, runtime.LogOptions{})
	if diff := cmp.Diff(strip(lines), strip(stored)); diff != "" {
		t.Errorf("logs read after the exit differ from the followed ones (-followed +read):\n%s", diff)
	}
	lines = stored

	// Since keeps the line at exactly that time and everything after.
	for _, k := range []int{0, 4, len(lines) - 1} {
		got := readAll(t, s.rt, id, runtime.LogOptions{Since: lines[k].Time})
		j := len(lines) - len(got)
		if j < 0 || j > k {
			t.Errorf("Since line %d: %d lines, want %d (or more lines at the same time)", k, len(got), len(lines)-k)
			continue
		}
		if diff := cmp.Diff(lines[j:], got); diff != "" {
			t.Errorf("Since line %d (-want +got):\n%s", k, diff)
		}
		for _, l := range lines[j:k] {
			if !l.Time.Equal(lines[k].Time) {
				t.Errorf("Since line %d also returned the older line %+v", k, l)
			}
		}
	}
}

func (s *suite) testLogsResumeSince(t *testing.T) {
	const n = 20
	var prog Program
	for i := 1; i <= n; i++ {
		prog = append(prog, Print("stdout", fmt.Sprintf("line %d", i)), Sleep(100*time.Millisecond))
	}
	spec := s.spec(t, prog)
	id := s.start(t, s.rt, spec)

	// Read a few lines of the running container, stop reading, then resume
	// from the last stored line's time the way the operator does after a
	// restart, dropping the lines it already has.
	ls, err := s.rt.Logs(ctxFor(t), id, runtime.LogOptions{Follow: true})
	if err != nil {
		t.Fatalf("Logs: %v", err)
	}
	stored := waitFor(t, ls, "line 5")
	if err := ls.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if l, err := ls.Next(); err == nil {
		t.Errorf("Next after Close = %+v, want an error", l)
	}
	if err := ls.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}

	last := stored[len(stored)-1]
	have := make(map[runtime.LogLine]bool, len(stored))
	for _, l := range stored {
		have[l] = true
	}
	for _, l := range readAll(t, s.rt, id, runtime.LogOptions{Since: last.Time, Follow: true}) {
		if l.Time.Before(last.Time) {
			t.Errorf("resumed logs returned %+v from before Since %v", l, last.Time)
		}
		if !have[l] {
			stored = append(stored, l)
		}
	}
	var want []string
	for i := 1; i <= n; i++ {
		want = append(want, fmt.Sprintf("line %d", i))
	}
	if diff := cmp.Diff(want, texts(stored)); diff != "" {
		t.Errorf("log stored across the resume (-want +got):\n%s", diff)
	}
}

func (s *suite) testStats(t *testing.T) {
	// About 2.5 s of life with a couple of MB held by the shell.
	spec := s.spec(t, Program{Hold(2_000_000), Sleep(2500 * time.Millisecond), PrintHeld()})
	spec.Limits.MemoryBytes = memLimit
	id := s.start(t, s.rt, spec)
	ctx := ctxFor(t)
	st, err := s.rt.Stats(ctx, id)
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	defer st.Close()
	var samples []runtime.Sample
	for {
		smp, err := st.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("Stats.Next after %d samples: %v", len(samples), err)
		}
		samples = append(samples, smp)
	}
	if len(samples) == 0 {
		t.Fatal("no sample from a container that ran for 2.5 s")
	}
	var sawMemory bool
	for i, smp := range samples {
		if smp.Time.IsZero() {
			t.Errorf("sample %d has no time", i)
		}
		if smp.MemoryLimitBytes != memLimit {
			t.Errorf("sample %d: memory limit %d, want %d", i, smp.MemoryLimitBytes, memLimit)
		}
		if smp.OnlineCPUs < 1 {
			t.Errorf("sample %d: %d online CPUs", i, smp.OnlineCPUs)
		}
		sawMemory = sawMemory || smp.MemoryBytes > 0
	}
	if !sawMemory {
		t.Errorf("no sample with memory in use: %+v", samples)
	}
	if code := wait(t, s.rt, id).Code; code != 0 {
		t.Errorf("exit %d, want 0", code)
	}
	if got := texts(readAll(t, s.rt, id, runtime.LogOptions{})); !cmp.Equal(got, []string{"2000000"}) {
		t.Errorf("output %q, want the length of the held string", got)
	}
}

func (s *suite) testWaitExitCode(t *testing.T) {
	for _, code := range []int{0, 3} {
		t.Run(fmt.Sprintf("exit %d", code), func(t *testing.T) {
			t.Parallel()
			id := s.start(t, s.rt, s.spec(t, Program{Exit(code)}))
			st := wait(t, s.rt, id)
			if st.Code != code || st.OOMKilled {
				t.Errorf("Wait = %+v, want code %d, no OOM", st, code)
			}
			if st.FinishedAt.IsZero() {
				t.Errorf("Wait = %+v, want a finish time", st)
			}
			// Waiting on an exited container answers at once, the same.
			begin := s.cfg.Now()
			again := wait(t, s.rt, id)
			if took := s.cfg.Now().Sub(begin); took > 5*time.Second {
				t.Errorf("second Wait took %v", took)
			}
			if diff := cmp.Diff(st, again); diff != "" {
				t.Errorf("second Wait (-first +second):\n%s", diff)
			}
		})
	}
}

func (s *suite) testOOM(t *testing.T) {
	spec := s.spec(t, Program{AllocateBeyondLimit()})
	spec.Limits.MemoryBytes = memLimit
	id := s.start(t, s.rt, spec)
	st := wait(t, s.rt, id)
	if st.Code != 137 || !st.OOMKilled {
		t.Errorf("Wait = %+v, want code 137 and OOMKilled", st)
	}
}

func (s *suite) testCommandNotFound(t *testing.T) {
	// A command that cannot run is a run that exits at once with 127, not a
	// failed Start: the operator classifies it from Wait like any exit.
	spec := s.spec(t, Program{MissingCommand()})
	id := s.start(t, s.rt, spec)
	st := wait(t, s.rt, id)
	if st.Code != 127 {
		t.Errorf("Wait = %+v, want code 127", st)
	}
}

func (s *suite) testStopGraceful(t *testing.T) {
	spec := s.spec(t, Program{TrapTERM(0, "got TERM"), Print("stdout", "ready"), Forever()})
	id := s.start(t, s.rt, spec)
	ls, err := s.rt.Logs(ctxFor(t), id, runtime.LogOptions{Follow: true})
	if err != nil {
		t.Fatalf("Logs: %v", err)
	}
	defer ls.Close()
	waitFor(t, ls, "ready")

	const grace = 10 * time.Second
	begin := s.cfg.Now()
	if err := s.rt.Stop(ctxFor(t), id, grace); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if took := s.cfg.Now().Sub(begin); took > grace/2 {
		t.Errorf("Stop took %v for a container that exits on TERM", took)
	}
	if st := wait(t, s.rt, id); st.Code != 0 {
		t.Errorf("Wait = %+v, want the trap's exit 0", st)
	}
	if rest := texts(drain(t, ls)); !cmp.Equal(rest, []string{"got TERM"}) {
		t.Errorf("output after ready = %q, want the trap's line", rest)
	}
	if err := s.rt.Stop(ctxFor(t), id, grace); err != nil {
		t.Errorf("Stop of a stopped container: %v", err)
	}
}

func (s *suite) testStopKillsAfterGrace(t *testing.T) {
	spec := s.spec(t, Program{IgnoreTERM(), Print("stdout", "ready"), Forever()})
	id := s.start(t, s.rt, spec)
	ls, err := s.rt.Logs(ctxFor(t), id, runtime.LogOptions{Follow: true})
	if err != nil {
		t.Fatalf("Logs: %v", err)
	}
	defer ls.Close()
	waitFor(t, ls, "ready")

	const grace = time.Second
	begin := s.cfg.Now()
	if err := s.rt.Stop(ctxFor(t), id, grace); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	took := s.cfg.Now().Sub(begin)
	if took < grace-100*time.Millisecond || took > grace+15*time.Second {
		t.Errorf("Stop took %v with a grace of %v for a container ignoring TERM", took, grace)
	}
	if st := wait(t, s.rt, id); st.Code != 137 || st.OOMKilled {
		t.Errorf("Wait = %+v, want 137 (SIGKILL), no OOM", st)
	}
}

func (s *suite) testListByLabel(t *testing.T) {
	group := map[string]string{"fastflow-test-group": randomID()}
	exited := s.spec(t, Program{Exit(2)})
	running := s.spec(t, Program{Forever()})
	for _, sp := range []*runtime.RunSpec{&exited, &running} {
		maps.Copy(sp.Labels, group)
	}
	exitedID := s.start(t, s.rt, exited)
	runningID := s.start(t, s.rt, running)
	wait(t, s.rt, exitedID)

	found, err := s.rt.List(ctxFor(t), group)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	got := map[string]runtime.Container{}
	for _, c := range found {
		got[c.RunID] = c
	}
	if len(found) != 2 || len(got) != 2 {
		t.Fatalf("List found %+v, want the two containers of the group", found)
	}
	if c := got[exited.RunID]; c.ID != exitedID || c.State != runtime.StateExited || c.Exit == nil || c.Exit.Code != 2 {
		t.Errorf("exited container listed as %+v (exit %+v), want exited with code 2", c, c.Exit)
	}
	if c := got[running.RunID]; c.ID != runningID || c.State != runtime.StateRunning || c.Exit != nil {
		t.Errorf("running container listed as %+v, want running without exit", c)
	}

	one := maps.Clone(group)
	one[runtime.LabelRunID] = running.RunID
	if found, err := s.rt.List(ctxFor(t), one); err != nil || len(found) != 1 || found[0].ID != runningID {
		t.Errorf("List by group and run ID = %+v, %v; want only the running one", found, err)
	}
	if found, err := s.rt.List(ctxFor(t), map[string]string{"fastflow-test-group": "no-such-group"}); err != nil || len(found) != 0 {
		t.Errorf("List of an unused label = %+v, %v; want none", found, err)
	}
	if err := s.rt.Stop(ctxFor(t), runningID, 0); err != nil {
		t.Errorf("Stop: %v", err)
	}
}

func (s *suite) testReattach(t *testing.T) {
	// The first Runtime starts the run and goes away, as an operator that
	// is restarted does; a second one finds it, follows it and waits for it.
	first := s.cfg.New(t)
	firstOpen := true
	t.Cleanup(func() {
		if firstOpen {
			_ = first.Close()
		}
	})
	spec := s.spec(t, Program{
		Print("stdout", "one"), Sleep(50 * time.Millisecond),
		Print("stderr", "err one"), Sleep(1500 * time.Millisecond),
		Print("stdout", "two"), Exit(5),
	})
	id := s.start(t, first, spec)
	ls, err := first.Logs(ctxFor(t), id, runtime.LogOptions{Follow: true})
	if err != nil {
		t.Fatalf("Logs: %v", err)
	}
	defer ls.Close()
	waitFor(t, ls, "err one")
	if err := ls.Close(); err != nil {
		t.Errorf("Close of the first log stream: %v", err)
	}
	firstOpen = false
	if err := first.Close(); err != nil {
		t.Fatalf("Close of the first runtime: %v", err)
	}

	second := open(t, s.cfg)
	found, err := second.List(ctxFor(t), map[string]string{runtime.LabelRunID: spec.RunID})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(found) != 1 || found[0].ID != id || found[0].State != runtime.StateRunning {
		t.Fatalf("List after re-attach = %+v, want the running container %s", found, id)
	}
	lines := readAll(t, second, id, runtime.LogOptions{Follow: true})
	want := []line{{"stdout", "one"}, {"stderr", "err one"}, {"stdout", "two"}}
	if diff := cmp.Diff(want, strip(lines)); diff != "" {
		t.Errorf("logs through the second runtime (-want +got):\n%s", diff)
	}
	if st := wait(t, second, id); st.Code != 5 {
		t.Errorf("Wait through the second runtime = %+v, want 5", st)
	}
}

func (s *suite) testRemoveIdempotent(t *testing.T) {
	spec := s.spec(t, Program{Print("stdout", "bye")})
	id := s.start(t, s.rt, spec)
	wait(t, s.rt, id)
	ctx := ctxFor(t)
	for i := range 2 {
		if err := s.rt.Remove(ctx, id); err != nil {
			t.Fatalf("Remove #%d: %v", i+1, err)
		}
	}
	if err := s.rt.Stop(ctx, id, time.Second); err != nil {
		t.Errorf("Stop of a removed container: %v", err)
	}
	if found, err := s.rt.List(ctx, map[string]string{runtime.LabelRunID: spec.RunID}); err != nil || len(found) != 0 {
		t.Errorf("List after Remove = %+v, %v; want none", found, err)
	}
	s.expectNotFound(t, id)

	// Remove also kills a running container.
	id = s.start(t, s.rt, s.spec(t, Program{Forever()}))
	if err := s.rt.Remove(ctx, id); err != nil {
		t.Fatalf("Remove of a running container: %v", err)
	}
	s.expectNotFound(t, id)
}

func (s *suite) testUnknownID(t *testing.T) {
	id := "fastflow-conformance-missing-" + randomID()
	s.expectNotFound(t, id)
	ctx := ctxFor(t)
	if err := s.rt.Stop(ctx, id, time.Second); err != nil {
		t.Errorf("Stop of an unknown container: %v", err)
	}
	if err := s.rt.Remove(ctx, id); err != nil {
		t.Errorf("Remove of an unknown container: %v", err)
	}
}

// expectNotFound checks that the calls addressing id report ErrNotFound.
func (s *suite) expectNotFound(t *testing.T, id string) {
	t.Helper()
	ctx := ctxFor(t)
	if _, err := s.rt.Wait(ctx, id); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("Wait(%s) = %v, want ErrNotFound", id, err)
	}
	if ls, err := s.rt.Logs(ctx, id, runtime.LogOptions{}); !errors.Is(err, runtime.ErrNotFound) {
		if err == nil {
			_ = ls.Close()
		}
		t.Errorf("Logs(%s) = %v, want ErrNotFound", id, err)
	}
	if st, err := s.rt.Stats(ctx, id); !errors.Is(err, runtime.ErrNotFound) {
		if err == nil {
			_ = st.Close()
		}
		t.Errorf("Stats(%s) = %v, want ErrNotFound", id, err)
	}
}
