package operator

import (
	"context"

	"github.com/fastflow-dev/fastflow/repo"
	"github.com/fastflow-dev/fastflow/status/logs"
)

// afterPublish runs once a new revision is live: pre-heating of changed
// requirements and the validation report. (Owned by the pre-heat and
// check-run work.)
func (o *Operator) afterPublish(ctx context.Context, snap *repo.Snapshot) {}

// waitForPreheat blocks while the pipeline's requirements are being warmed
// and reports false if ctx ended meanwhile. (Owned by the pre-heat work.)
func (o *Operator) waitForPreheat(ctx context.Context, p repo.Pipeline, w *logs.Writer) bool {
	return ctx.Err() == nil
}
