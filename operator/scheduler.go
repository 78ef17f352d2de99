package operator

import "context"

// runScheduler fires the schedules of the live snapshot until ctx ends.
// (Owned by the scheduler work; until then there are no scheduled runs.)
func (o *Operator) runScheduler(ctx context.Context) {
	<-ctx.Done()
}
