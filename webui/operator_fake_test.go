package webui

import (
	"context"
	"sync"

	"github.com/fastflow-dev/fastflow/operator"
	"github.com/fastflow-dev/fastflow/repo"
	"github.com/fastflow-dev/fastflow/schemas"
	"github.com/fastflow-dev/fastflow/status"
	"github.com/fastflow-dev/fastflow/status/logs"
	"github.com/fastflow-dev/fastflow/status/metrics"
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
	// requests and syncs are what RunPipeline and RequestSync were asked.
	requests []operator.RunRequest
	syncs    []string
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

func (f *fakeOperator) PolicyFor(schemas.Spec) operator.Policy { return operator.Policy{} }
func (f *fakeOperator) Ready() <-chan struct{}                 { return f.ready }
func (f *fakeOperator) LogHubs() *logs.Hubs[logs.Line]         { return f.logHubs }
func (f *fakeOperator) MetricHubs() *logs.Hubs[metrics.Point]  { return f.metricHubs }
