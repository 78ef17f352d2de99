package webui

import (
	"context"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/fastflow-dev/fastflow/operator"
	"github.com/fastflow-dev/fastflow/repo"
	"github.com/fastflow-dev/fastflow/schemas"
	"github.com/fastflow-dev/fastflow/status"
	"github.com/fastflow-dev/fastflow/status/logs"
	"github.com/fastflow-dev/fastflow/status/metrics"
	"github.com/fastflow-dev/fastflow/status/sqlstore"
)

// fakeOperator is an Operator for tests that need no control loop: it
// answers from its fields and records what it was asked. The zero value
// (through newFakeOperator) is an operator that has not synced and is not
// ready. Safe for concurrent use.
type fakeOperator struct {
	logHubs    *logs.Hubs[logs.Line]
	metricHubs *logs.Hubs[metrics.Point]
	ready      chan struct{}

	mu    sync.Mutex
	state operator.SyncState
	// run answers RunPipeline; nil refuses with ErrPipelineNotFound.
	run func(operator.RunRequest) (status.Run, error)
	// requests and syncs are what RunPipeline and RequestSync were asked;
	// syncsTo what RequestSyncTo was asked, as "trigger revision".
	requests []operator.RunRequest
	syncs    []string
	syncsTo  []string
	// disk answers DiskSpace.
	disk []operator.DiskSpace
}

var _ Operator = (*fakeOperator)(nil)

func newFakeOperator() *fakeOperator {
	return &fakeOperator{
		logHubs:    logs.NewHubs[logs.Line](16),
		metricHubs: logs.NewHubs[metrics.Point](16),
		ready:      make(chan struct{}),
	}
}

// answerRuns makes RunPipeline answer with fn.
func (f *fakeOperator) answerRuns(fn func(operator.RunRequest) (status.Run, error)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.run = fn
}

// runRequests returns what RunPipeline was asked, in order.
func (f *fakeOperator) runRequests() []operator.RunRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]operator.RunRequest(nil), f.requests...)
}

func (f *fakeOperator) RunPipeline(_ context.Context, req operator.RunRequest) (status.Run, error) {
	f.mu.Lock()
	f.requests = append(f.requests, req)
	fn := f.run
	f.mu.Unlock()
	if fn == nil {
		return status.Run{}, operator.ErrPipelineNotFound
	}
	return fn(req)
}

func (f *fakeOperator) CancelRun(context.Context, string) error { return operator.ErrRunNotActive }

func (f *fakeOperator) RetryRun(context.Context, string, string) (status.Run, error) {
	return status.Run{}, operator.ErrRunNotFound
}

func (f *fakeOperator) RequestSync(trigger string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.syncs = append(f.syncs, trigger)
}

func (f *fakeOperator) RequestSyncTo(trigger, revision string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.syncsTo = append(f.syncsTo, trigger+" "+revision)
}

func (f *fakeOperator) Snapshot() *repo.Snapshot {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.state.Live
}

func (f *fakeOperator) SyncState() operator.SyncState {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.state
}

func (f *fakeOperator) Leadership() operator.LeaderState {
	return operator.LeaderState{Self: "fake", Leader: true, Holder: "fake", Term: 1}
}

func (f *fakeOperator) Replicas(context.Context) ([]status.Replica, error) {
	return []status.Replica{{ID: "fake", Host: "fakehost"}}, nil
}

func (f *fakeOperator) DiskSpace() []operator.DiskSpace {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]operator.DiskSpace(nil), f.disk...)
}

func (f *fakeOperator) PolicyFor(schemas.Spec) operator.Policy { return operator.Policy{} }
func (f *fakeOperator) Ready() <-chan struct{}                 { return f.ready }
func (f *fakeOperator) LogHubs() *logs.Hubs[logs.Line]         { return f.logHubs }
func (f *fakeOperator) MetricHubs() *logs.Hubs[metrics.Point]  { return f.metricHubs }

// newFakeAPIEnv is the whole HTTP server (auth middleware, API, pages) on
// op and a migrated SQLite store, with a bearer token of alice; e.op is
// nil, the test drives op.
func newFakeAPIEnv(t *testing.T, op *fakeOperator) *apiEnv {
	t.Helper()
	ctx := context.Background()
	store, err := sqlstore.Open(ctx, sqlstore.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	srv, err := New(Config{Operator: op, Store: store})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return &apiEnv{t: t, store: store, srv: srv, http: hs, token: addAPIToken(t, store)}
}
