package operator

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fastflow-dev/fastflow/repo"
	"github.com/fastflow-dev/fastflow/repo/gittest"
	"github.com/fastflow-dev/fastflow/runtime"
	"github.com/fastflow-dev/fastflow/runtime/fake"
	"github.com/fastflow-dev/fastflow/status"
	"github.com/fastflow-dev/fastflow/status/sqlstore"
)

// janitorObjects makes the objects of a janitor scenario in one backend.
type janitorObjects interface {
	// container makes a container with labels, running or exited, and
	// returns its ID.
	container(t *testing.T, labels map[string]string, running bool) string
	// volume makes a volume, used by a container when inUse.
	volume(t *testing.T, name string, labels map[string]string, inUse bool)
	// image makes a dangling image, used by a container when inUse, and
	// returns its ID.
	image(t *testing.T, labels map[string]string, inUse bool) string
	// exists reports whether the object (a containerObj, volumeObj or
	// imageObj) is still there.
	exists(t *testing.T, kind, id string) bool
}

const (
	containerObj = "container"
	volumeObj    = "volume"
	imageObj     = "image"
)

// janitorCase is one object of the scenario and whether a pass removes it.
type janitorCase struct {
	name string
	obj  string
	// inst is whose label it carries: "own", "other" or "" (none).
	inst string
	kind string // LabelKind; "" leaves the label out
	// run is the status of its run in the store: "finished", "running",
	// "pending", "unknown" (no record) or "" (no LabelRunID at all).
	run string
	// busy: this process supervises its run or warm-up.
	busy bool
	// inUse: a container uses the volume or image.
	inUse bool
	gone  bool
}

// janitorCases is the scenario both backends run: every rule, with an
// unlabelled object and one of another installation beside each.
var janitorCases = []janitorCase{
	{name: "container of a finished run", obj: containerObj, inst: "own", kind: "run", run: "finished", gone: true},
	{name: "container of a run the store does not know", obj: containerObj, inst: "own", kind: "run", run: "unknown", gone: true},
	{name: "container of a running run", obj: containerObj, inst: "own", kind: "run", run: "running"},
	{name: "container of a pending run", obj: containerObj, inst: "own", kind: "run", run: "pending"},
	{name: "container of a finished run this process still supervises", obj: containerObj, inst: "own", kind: "run", run: "finished", busy: true},
	{name: "leftover warm-up container", obj: containerObj, inst: "own", kind: "preheat", run: "unknown", gone: true},
	{name: "warm-up container in use", obj: containerObj, inst: "own", kind: "preheat", run: "unknown", busy: true},
	{name: "container of another installation", obj: containerObj, inst: "other", kind: "run", run: "finished"},
	{name: "unlabelled container", obj: containerObj},
	{name: "volume of a finished run", obj: volumeObj, inst: "own", run: "finished", gone: true},
	{name: "volume without a run", obj: volumeObj, inst: "own", gone: true},
	{name: "volume of a running run", obj: volumeObj, inst: "own", run: "running"},
	{name: "volume without a run that a container uses", obj: volumeObj, inst: "own", inUse: true},
	{name: "volume of another installation", obj: volumeObj, inst: "other", run: "finished"},
	{name: "unlabelled volume", obj: volumeObj},
	{name: "dangling image", obj: imageObj, inst: "own", gone: true},
	{name: "dangling image a container uses", obj: imageObj, inst: "own", inUse: true},
	{name: "dangling image of another installation", obj: imageObj, inst: "other"},
	{name: "unlabelled dangling image", obj: imageObj},
}

// janitorScenario is a store, a repository with six revisions and the
// objects of janitorCases for one janitor.
type janitorScenario struct {
	own, other string
	store      status.Store
	syncer     *repo.Syncer
	revDir     string
	shas       []string
	busy       map[string]bool
	ids        map[string]string // case name -> object ID
	logs       *bytes.Buffer
	logMu      *sync.Mutex
}

// newJanitorScenario makes the scenario; prefix keeps its names apart from
// other tests' on a shared daemon.
func newJanitorScenario(t *testing.T, prefix string, objs janitorObjects) *janitorScenario {
	t.Helper()
	ctx := t.Context()
	data := t.TempDir()
	s := &janitorScenario{own: prefix + "-own", other: prefix + "-other", busy: map[string]bool{}, ids: map[string]string{}, logs: &bytes.Buffer{}, logMu: &sync.Mutex{}}
	ownInstances.Store(s.own, true)
	ownInstances.Store(s.other, true)
	store := newJanitorStore(t)
	s.store = store

	remote := gittest.New(t)
	var err error
	s.syncer, err = repo.NewSyncer(repo.Config{URL: remote.Dir, Branch: "main", DataDir: data, PipelinesDir: filepath.Join(data, "pipelines")})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		s.shas = append(s.shas, remote.Commit("c", map[string]string{"hello/main.py": "print('hi')\n", "hello/n.txt": fmt.Sprint(i)}))
		if res, err := s.syncer.Sync(ctx); err != nil || res.Outcome != repo.OutcomeUpdated {
			t.Fatalf("sync %d: %v %v", i, res.Outcome, err)
		}
	}
	s.revDir = filepath.Join(data, "revisions")
	if err := os.Mkdir(filepath.Join(s.revDir, ".tmp-interrupted-sync"), 0o755); err != nil {
		t.Fatal(err)
	}

	// The running run uses the oldest revision, which is kept for it.
	statuses := map[string]status.RunStatus{"finished": status.RunSuccess, "running": status.RunRunning, "pending": status.RunPending}
	for i, c := range janitorCases {
		runID := fmt.Sprintf("%s-%02d", prefix, i)
		if st, ok := statuses[c.run]; ok {
			r := status.Run{ID: runID, Pipeline: "hello", Status: st, Admitted: st == status.RunPending, Revision: s.shas[0]}
			if _, err := store.CreateRun(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		labels := map[string]string{"fastflow-test-janitor": prefix}
		switch c.inst {
		case "own":
			labels[runtime.LabelInstance] = s.own
		case "other":
			labels[runtime.LabelInstance] = s.other
		}
		if c.kind != "" {
			labels[runtime.LabelKind] = c.kind
		}
		if c.run != "" {
			labels[runtime.LabelRunID] = runID
			labels[runtime.LabelPipeline] = "hello"
		}
		if c.busy {
			s.busy[runID] = true
		}
		switch c.obj {
		case containerObj:
			s.ids[c.name] = objs.container(t, labels, c.run == "running" || c.run == "pending" || c.busy)
		case volumeObj:
			name := fmt.Sprintf("%s-vol-%02d", prefix, i)
			objs.volume(t, name, labels, c.inUse)
			s.ids[c.name] = name
		case imageObj:
			s.ids[c.name] = objs.image(t, labels, c.inUse)
		}
	}
	return s
}

// newJanitorStore is a migrated SQLite store, closed when t ends.
func newJanitorStore(t testing.TB) status.Store {
	t.Helper()
	store, err := sqlstore.Open(t.Context(), sqlstore.Config{DataDir: t.TempDir(), CheckpointInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	if err := store.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return store
}

// janitor returns a janitor of the own installation on rt.
func (s *janitorScenario) janitor(rt runtime.Runtime, cfg JanitorConfig, obs Observer) *janitor {
	log := slog.New(slog.NewTextHandler(&lockedWriter{w: s.logs, mu: s.logMu}, nil))
	return newJanitor(cfg, s.own, rt, s.store, s.syncer, realClock{}, log, obs,
		func() map[string]bool { return s.busy })
}

func (s *janitorScenario) logText() string {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	return s.logs.String()
}

// revisions lists revisions/ by name.
func (s *janitorScenario) revisions(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(s.revDir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	return names
}

// want is what a full pass over the scenario removes.
func (s *janitorScenario) want(pruneImages bool) janitorResult {
	res := janitorResult{Revisions: 2, TempDirs: 1} // shas[1] and shas[2]; shas[0] is in use
	for _, c := range janitorCases {
		if !c.gone {
			continue
		}
		switch c.obj {
		case containerObj:
			res.Containers++
		case volumeObj:
			res.Volumes++
		case imageObj:
			if pruneImages {
				res.Images++
			}
		}
	}
	return res
}

// check asserts which objects are left.
func (s *janitorScenario) check(t *testing.T, objs janitorObjects, removed func(janitorCase) bool) {
	t.Helper()
	for _, c := range janitorCases {
		if got, want := objs.exists(t, c.obj, s.ids[c.name]), !removed(c); got != want {
			t.Errorf("%s: exists = %v, want %v", c.name, got, want)
		}
	}
}

// runJanitorScenario runs a dry pass, then a real one, over the scenario.
func runJanitorScenario(t *testing.T, rt runtime.Runtime, objs janitorObjects, prefix string) {
	s := newJanitorScenario(t, prefix, objs)
	ctx := t.Context()
	before := s.revisions(t)
	want := s.want(true)

	obs := &countingObserver{}
	dry, err := s.janitor(rt, JanitorConfig{DryRun: true, PruneImages: true}, obs).pass(ctx)
	if err != nil {
		t.Fatalf("dry pass: %v", err)
	}
	if diff := cmp.Diff(want, dry); diff != "" {
		t.Errorf("dry pass would remove (-want +got):\n%s", diff)
	}
	s.check(t, objs, func(janitorCase) bool { return false })
	if diff := cmp.Diff(before, s.revisions(t)); diff != "" {
		t.Errorf("dry pass changed revisions/ (-before +after):\n%s", diff)
	}
	logs := s.logText()
	if !strings.Contains(logs, "janitor dry run: would remove container") || strings.Contains(logs, "janitor: removed") {
		t.Errorf("dry pass log does not say dry run, or says removed:\n%s", logs)
	}
	if len(obs.n) != 0 {
		t.Errorf("dry pass reported removals %v", obs.n)
	}

	got, err := s.janitor(rt, JanitorConfig{PruneImages: true}, obs).pass(ctx)
	if err != nil {
		t.Fatalf("pass: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("pass removed (-want +got):\n%s", diff)
	}
	s.check(t, objs, func(c janitorCase) bool { return c.gone })
	wantRevs := []string{s.shas[0], s.shas[3], s.shas[4], s.shas[5]}
	slices.Sort(wantRevs)
	if diff := cmp.Diff(wantRevs, s.revisions(t)); diff != "" {
		t.Errorf("revisions left (-want +got): the one in use, then the three newest\n%s", diff)
	}
	for kind, n := range want.counts() {
		if c := obs.count(ComponentJanitor + "/" + kind); c != n {
			t.Errorf("observer counted %d %s, want %d", c, kind, n)
		}
	}
	if n := strings.Count(s.logText(), "janitor: removed container"); n != want.Containers {
		t.Errorf("%d container removals logged, want %d", n, want.Containers)
	}

	// Nothing is left to do.
	again, err := s.janitor(rt, JanitorConfig{PruneImages: true}, obs).pass(ctx)
	if err != nil || again != (janitorResult{}) {
		t.Errorf("second pass = %+v, %v; want nothing removed", again, err)
	}
}

// lockedWriter serialises a log buffer's writers.
type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// fakeObjects makes the scenario's objects in the fake runtime.
type fakeObjects struct {
	rt     *fake.Runtime
	images int
}

func (f *fakeObjects) container(t *testing.T, labels map[string]string, running bool) string {
	t.Helper()
	prog := fake.Program{fake.Exit(0)}
	if running {
		prog = fake.Program{fake.Forever()}
	}
	runID := labels[runtime.LabelRunID]
	if runID == "" {
		runID = fmt.Sprintf("unlabelled-%d", len(f.rt.Containers()))
	}
	id, err := f.rt.Start(t.Context(), runtime.RunSpec{RunID: runID, Pipeline: "hello", Kind: labels[runtime.LabelKind], Image: "img", Command: fake.Command(prog), Labels: labels})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func (f *fakeObjects) volume(_ *testing.T, name string, labels map[string]string, inUse bool) {
	f.rt.AddVolume(name, labels)
	f.rt.SetInUse(name, inUse)
}

func (f *fakeObjects) image(_ *testing.T, labels map[string]string, inUse bool) string {
	f.images++
	id := fmt.Sprintf("sha256:%064d", f.images)
	f.rt.AddDanglingImage(id, labels)
	f.rt.SetInUse(id, inUse)
	return id
}

func (f *fakeObjects) exists(t *testing.T, kind, id string) bool {
	switch kind {
	case containerObj:
		c, ok := f.rt.Container(id)
		return ok && !c.Removed
	case volumeObj:
		return f.rt.HasVolume(id)
	case imageObj:
		return f.rt.HasImage(id)
	}
	t.Fatalf("unknown kind %q", kind)
	return false
}

// TestJanitorPassFake runs the scenario on the fake runtime: exactly the
// objects of this installation that nothing owns go, a dry run removes
// nothing and finds the same.
func TestJanitorPassFake(t *testing.T) {
	t.Parallel()
	rt := fake.New(fake.Config{})
	runJanitorScenario(t, rt, &fakeObjects{rt: rt}, "jf")
}

// TestJanitorKeepsWhatItCannotTell: when the store cannot list the active
// runs, no container or volume goes; without JANITOR_PRUNE_IMAGES no image
// goes; a runtime that fails its listing makes the pass fail, not guess.
func TestJanitorKeepsWhatItCannotTell(t *testing.T) {
	t.Parallel()
	rt := fake.New(fake.Config{})
	objs := &fakeObjects{rt: rt}
	s := newJanitorScenario(t, "jk", objs)
	ctx := t.Context()

	res, err := s.janitor(rt, JanitorConfig{}, nil).pass(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Images != 0 {
		t.Errorf("removed %d images without PruneImages", res.Images)
	}
	for _, c := range janitorCases {
		if c.obj == imageObj && !objs.exists(t, imageObj, s.ids[c.name]) {
			t.Errorf("%s removed without PruneImages", c.name)
		}
	}

	rt.Fail(fake.MethodList, errors.New("daemon says no"))
	if _, err := s.janitor(rt, JanitorConfig{}, nil).pass(ctx); err == nil || !strings.Contains(err.Error(), "daemon says no") {
		t.Errorf("pass with a failing List = %v, want its error", err)
	}
	rt.Fail(fake.MethodList, nil)

	s2 := newJanitorScenario(t, "jk2", objs)
	if err := s2.store.Close(); err != nil {
		t.Fatal(err)
	}
	res, err = s2.janitor(rt, JanitorConfig{}, nil).pass(ctx)
	if err == nil {
		t.Error("pass on a closed store reported no error")
	}
	if res.Containers+res.Volumes != 0 {
		t.Errorf("pass on a closed store removed %+v", res)
	}
	s2.check(t, objs, func(janitorCase) bool { return false })
}

// TestJanitorRunsAtStartup: the operator's Run makes a pass once it is
// ready (a leftover volume goes, which reconciliation does not look at),
// then one per JANITOR_INTERVAL on its clock.
func TestJanitorRunsAtStartup(t *testing.T) {
	t.Parallel()
	remote := gittest.New(t)
	remote.Commit("pipelines", map[string]string{"hello/main.py": "print('hi')\n"})
	data := t.TempDir()
	clk := fake.NewClock(time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC))
	rt := fake.New(fake.Config{Clock: clk, RevisionsDir: filepath.Join(data, "revisions")})
	own := map[string]string{runtime.LabelInstance: testInstance(data)}
	rt.AddVolume("left-1", own)
	e := openFakeEnv(t, remote, data, rt, clk, func(c *Config) { c.Janitor = JanitorConfig{Interval: 24 * time.Hour} })
	e.waitFor("the start-up pass to remove the leftover volume", 10*time.Second, func() bool { return !rt.HasVolume("left-1") })

	rt.AddVolume("left-2", own)
	passes := 0
	for rt.HasVolume("left-2") && passes < 3 {
		// One interval later the next pass is due; the loop may still
		// be arming its timer (an advance before that is lost), so
		// advance again if a pass did not come within a while.
		clk.Advance(24 * time.Hour)
		passes++
		for wait := time.Now().Add(2 * time.Second); rt.HasVolume("left-2") && time.Now().Before(wait); {
			time.Sleep(10 * time.Millisecond)
		}
	}
	if rt.HasVolume("left-2") || passes > 2 {
		t.Errorf("second volume went after %d intervals, want 1 (2 if the loop was arming)", passes)
	}
}
