package fake

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/fastflow-dev/fastflow/runtime"
)

// Snapshot is a copy of one container's state, for a test's assertions.
type Snapshot struct {
	ID string
	// Spec is the RunSpec Start was given.
	Spec runtime.RunSpec
	// Labels are the container's labels: the spec's and the backend's.
	Labels map[string]string
	// Mounts are the resolved binds: the code, the caches, then the
	// spec's mounts.
	Mounts []runtime.Mount
	// Program is what the container runs; nil when its command was not
	// found.
	Program   Program
	State     runtime.State
	Exit      *runtime.ExitStatus
	StartedAt time.Time
	Lines     []runtime.LogLine
	// MemoryBytes and MilliCPUs are the use the program set last.
	MemoryBytes int64
	MilliCPUs   int64
	// Stopped is set once Stop was called on the running container, with
	// the grace of the last such call.
	Stopped   bool
	StopGrace time.Duration
	// Removed is set once the container is gone: removed by Remove (see
	// Calls) or by Vanish.
	Removed bool
	// Calls counts the calls that addressed the container by ID, and its
	// Start.
	Calls map[Method]int
}

// Texts returns the text of the snapshot's lines.
func (s Snapshot) Texts() []string {
	out := make([]string, len(s.Lines))
	for i, l := range s.Lines {
		out[i] = l.Text
	}
	return out
}

func (c *container) snapshot() Snapshot {
	s := Snapshot{
		ID:          c.id,
		Spec:        cloneSpec(c.spec),
		Labels:      maps.Clone(c.labels),
		Mounts:      slices.Clone(c.mounts),
		State:       c.state,
		StartedAt:   c.started,
		Lines:       slices.Clone(c.lines),
		MemoryBytes: c.memory,
		MilliCPUs:   c.millicores,
		Stopped:     c.stopped,
		StopGrace:   c.stopGrace,
		Removed:     c.removed,
		Calls:       maps.Clone(c.calls),
	}
	if c.prog != nil {
		s.Program = c.prog.clone()
	}
	if c.exit != nil {
		st := *c.exit
		s.Exit = &st
	}
	return s
}

// Containers returns every container the daemon started, removed ones
// included, in the order they were started.
func (r *Runtime) Containers() []Snapshot {
	r.d.mu.Lock()
	defer r.d.mu.Unlock()
	out := make([]Snapshot, len(r.d.order))
	for i, c := range r.d.order {
		out[i] = c.snapshot()
	}
	return out
}

// Container returns the container with the ID, removed or not.
func (r *Runtime) Container(id string) (Snapshot, bool) {
	r.d.mu.Lock()
	defer r.d.mu.Unlock()
	c := r.d.containers[id]
	if c == nil {
		return Snapshot{}, false
	}
	return c.snapshot(), true
}

// ContainerOfRun returns the latest container started for the run ID,
// removed or not.
func (r *Runtime) ContainerOfRun(runID string) (Snapshot, bool) {
	r.d.mu.Lock()
	defer r.d.mu.Unlock()
	for _, c := range slices.Backward(r.d.order) {
		if c.spec.RunID == runID {
			return c.snapshot(), true
		}
	}
	return Snapshot{}, false
}

// running returns the running container id names, or an error saying why
// there is none. Called with d.mu held.
func (d *daemon) running(id string) (*container, error) {
	c := d.lookup(id)
	switch {
	case c == nil:
		return nil, fmt.Errorf("fake: container %s: %w", id, runtime.ErrNotFound)
	case c.state != runtime.StateRunning:
		return nil, fmt.Errorf("fake: container %s has exited", id)
	}
	return c, nil
}

// Emit prints a line from the running container now, besides its program.
func (r *Runtime) Emit(id, stream, text string) error {
	if stream != Stdout && stream != Stderr {
		return fmt.Errorf("fake: emit to stream %q", stream)
	}
	d := r.d
	d.mu.Lock()
	defer d.mu.Unlock()
	c, err := d.running(id)
	if err != nil {
		return err
	}
	d.print(c, stream, text)
	return nil
}

// Finish ends the running container now with code, whatever its program
// was doing.
func (r *Runtime) Finish(id string, code int) error {
	return r.end(id, runtime.ExitStatus{Code: code})
}

// OOMKill ends the running container now as the OOM killer does (137,
// OOMKilled).
func (r *Runtime) OOMKill(id string) error {
	return r.end(id, runtime.ExitStatus{Code: codeKilled, OOMKilled: true})
}

func (r *Runtime) end(id string, st runtime.ExitStatus) error {
	d := r.d
	d.mu.Lock()
	defer d.mu.Unlock()
	c, err := d.running(id)
	if err != nil {
		return err
	}
	d.finish(c, st)
	return nil
}

// Vanish removes the container behind the operator's back (docker rm -f by
// someone else): killed if it runs, then gone. It is not counted as a
// Remove call.
func (r *Runtime) Vanish(id string) error {
	d := r.d
	d.mu.Lock()
	defer d.mu.Unlock()
	c := d.lookup(id)
	if c == nil {
		return fmt.Errorf("fake: container %s: %w", id, runtime.ErrNotFound)
	}
	d.remove(c)
	return nil
}

// KillAll kills every running container (137), as a daemon restarting
// without live-restore does. With SetAvailable(false) first, it is a daemon
// that went down with its containers.
func (r *Runtime) KillAll() {
	d := r.d
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range d.order {
		d.finish(c, runtime.ExitStatus{Code: codeKilled})
	}
}
