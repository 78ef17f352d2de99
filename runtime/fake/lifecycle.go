package fake

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/fastflow-dev/fastflow/runtime"
)

// Wait blocks until the container has exited and returns how. It ends with
// ErrDown (wrapped) when the daemon goes down meanwhile.
func (r *Runtime) Wait(ctx context.Context, id string) (runtime.ExitStatus, error) {
	if err := r.begin(ctx, MethodWait, id); err != nil {
		return runtime.ExitStatus{}, err
	}
	d := r.d
	defer d.mu.Unlock()
	c := d.lookup(id)
	if c == nil {
		return runtime.ExitStatus{}, callError(MethodWait, id, runtime.ErrNotFound)
	}
	if err := r.untilExited(ctx, MethodWait, c); err != nil {
		return runtime.ExitStatus{}, err
	}
	return *c.exit, nil
}

// untilExited waits, with d.mu held on entry and return, until c has
// exited.
func (r *Runtime) untilExited(ctx context.Context, m Method, c *container) error {
	d := r.d
	outage := d.outages
	for c.exit == nil {
		changed := d.changed
		d.mu.Unlock()
		err := r.block(ctx, changed, nil)
		d.mu.Lock()
		switch {
		case err != nil:
			return callError(m, c.id, err)
		case d.outages != outage:
			return callError(m, c.id, ErrDown)
		}
	}
	return nil
}

// Stop sends SIGTERM and, when the program does not end of it, SIGKILL
// after grace on the clock (137), and returns once the container has
// exited. See OnTERM and IgnoreTERM for how a program takes the signal. A
// container that exited or is gone is not an error. If ctx ends first, Stop
// returns its error and the kill still comes at the end of the grace, as
// the daemon's would.
func (r *Runtime) Stop(ctx context.Context, id string, grace time.Duration) error {
	if err := r.begin(ctx, MethodStop, id); err != nil {
		return err
	}
	d := r.d
	defer d.mu.Unlock()
	c := d.lookup(id)
	if c == nil || c.state != runtime.StateRunning {
		return nil
	}
	c.stopped, c.stopGrace = true, grace
	d.terminate(c, grace)
	return r.untilExited(ctx, MethodStop, c)
}

// Remove deletes the container, killing it (137) if it runs. Its run ID is
// free for a new Start afterwards. A container that is gone is not an
// error.
func (r *Runtime) Remove(ctx context.Context, id string) error {
	if err := r.begin(ctx, MethodRemove, id); err != nil {
		return err
	}
	d := r.d
	defer d.mu.Unlock()
	if c := d.lookup(id); c != nil {
		d.remove(c)
	}
	return nil
}

// remove kills and deletes c. Called with d.mu held.
func (d *daemon) remove(c *container) {
	d.finish(c, runtime.ExitStatus{Code: codeKilled})
	c.removed = true
	if d.byRun[c.spec.RunID] == c {
		delete(d.byRun, c.spec.RunID)
	}
	if d.forget {
		delete(d.containers, c.id)
		if i := slices.Index(d.order, c); i >= 0 {
			d.order = slices.Delete(d.order, i, i+1)
		}
	}
	d.notify()
}

// List returns the containers that are not removed and carry every one of
// labels, in the order they were started.
func (r *Runtime) List(ctx context.Context, labels map[string]string) ([]runtime.Container, error) {
	if err := r.begin(ctx, MethodList, ""); err != nil {
		return nil, err
	}
	d := r.d
	defer d.mu.Unlock()
	var out []runtime.Container
	for _, c := range d.order {
		if c.removed || !hasLabels(c.labels, labels) {
			continue
		}
		ctr := runtime.Container{
			ID:       c.id,
			RunID:    c.spec.RunID,
			Pipeline: c.spec.Pipeline,
			Revision: c.spec.Revision,
			Kind:     c.spec.Kind,
			State:    c.state,
			Labels:   maps.Clone(c.labels),
		}
		if c.exit != nil {
			st := *c.exit
			ctr.Exit = &st
		}
		out = append(out, ctr)
	}
	return out, nil
}

func hasLabels(have, want map[string]string) bool {
	for k, v := range want {
		if got, ok := have[k]; !ok || got != v {
			return false
		}
	}
	return true
}
