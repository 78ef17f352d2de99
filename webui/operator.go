package webui

import (
	"context"

	"github.com/fastflow-dev/fastflow/operator"
	"github.com/fastflow-dev/fastflow/repo"
	"github.com/fastflow-dev/fastflow/schemas"
	"github.com/fastflow-dev/fastflow/status"
	"github.com/fastflow-dev/fastflow/status/logs"
	"github.com/fastflow-dev/fastflow/status/metrics"
)

// Operator is what the web UI asks of the operator: exactly the calls its
// handlers make, so the server can be tested on a small fake and does not
// reach into the rest of the control loop. *operator.Operator implements
// it.
//
// Every method is called from request goroutines, concurrently, before,
// during and after the operator's Run (a server may answer /healthz while
// the operator still reconciles); implementations must be safe for that.
// Reads (Snapshot, SyncState, PolicyFor, the hubs) never block; DiskSpace
// asks the file system, quickly, and never blocks on a run or
// a sync; the actions (RunPipeline, CancelRun, RetryRun) may take as long
// as one store transaction and honour ctx.
type Operator interface {
	// RunPipeline starts or, with req.Queue, queues a run and returns it as
	// stored: RUNNING or PENDING admitted when it started, PENDING not
	// admitted when it waits for a slot. Errors are operator's sentinels
	// and *operator.ParamError (see classifyOpError).
	RunPipeline(ctx context.Context, req operator.RunRequest) (status.Run, error)
	// CancelRun asks the operator to stop an active run; the run turns
	// CANCELLED later. An inactive run is operator.ErrRunNotActive.
	CancelRun(ctx context.Context, id string) error
	// RetryRun starts a new run repeating the finished run id on behalf of
	// user.
	RetryRun(ctx context.Context, id, user string) (status.Run, error)
	// RequestSync asks for a sync soon; requests coalesce, it never blocks.
	RequestSync(trigger string)
	// RequestSyncTo is RequestSync for a request that names the commit it
	// wants live (a push webhook's "after"): a request whose commit is
	// live by the time it is handled makes no sync, so a burst of
	// deliveries of one push costs one. It never blocks.
	RequestSyncTo(trigger, revision string)
	// Snapshot is the live revision, nil before the first sync. Callers
	// must not modify it.
	Snapshot() *repo.Snapshot
	// SyncState is the live revision and the last sync attempts.
	SyncState() operator.SyncState
	// PolicyFor is the timeout and retries runs of spec get, server
	// defaults included.
	PolicyFor(spec schemas.Spec) operator.Policy
	// DiskSpace is the free space of the folders runs write to; /health
	// reports it.
	DiskSpace() []operator.DiskSpace
	// Leadership is this replica's view of the leader lease, and
	// Replicas the replicas that sent a heartbeat lately (a database
	// read).
	Leadership() operator.LeaderState
	Replicas(ctx context.Context) ([]status.Replica, error)
	// Ready is closed once the operator admits runs.
	Ready() <-chan struct{}
	// LogHubs and MetricHubs are the live fan-outs of the runs this
	// operator supervises; a run without a hub is not followed live.
	LogHubs() *logs.Hubs[logs.Line]
	MetricHubs() *logs.Hubs[metrics.Point]
}

// The real operator must keep satisfying what the server asks of it.
var _ Operator = (*operator.Operator)(nil)
