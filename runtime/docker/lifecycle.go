package docker

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

	"github.com/fastflow-dev/fastflow/runtime"
)

// Wait blocks until the container is not running and returns how it ended.
// The wait request is retried when the daemon drops it, since waiting is
// harmless to repeat; the exit status then comes from an inspect, which also
// carries the OOM flag and the daemon's error text that the wait answer lacks.
func (c *Client) Wait(ctx context.Context, id string) (runtime.ExitStatus, error) {
	err := c.do(ctx, "wait", id, func(ctx context.Context) error {
		resC, errC := c.api.ContainerWait(ctx, id, container.WaitConditionNotRunning)
		select {
		case <-resC:
			return nil
		case err := <-errC:
			return err
		case <-ctx.Done():
			// The client's goroutine answers on one of the channels
			// promptly once the request is cancelled; receiving it lets
			// that goroutine end instead of blocking on its send forever.
			select {
			case <-resC:
			case <-errC:
			}
			return ctx.Err()
		}
	})
	if err != nil {
		return runtime.ExitStatus{}, err
	}
	st, err := c.inspect(ctx, id)
	if err != nil {
		return runtime.ExitStatus{}, err
	}
	return exitStatus(st), nil
}

// inspect returns the container's state.
func (c *Client) inspect(ctx context.Context, id string) (*container.State, error) {
	var info container.InspectResponse
	err := c.do(ctx, "inspect", id, func(ctx context.Context) error {
		var err error
		info, err = c.api.ContainerInspect(ctx, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	if info.ContainerJSONBase == nil || info.State == nil {
		return nil, fmt.Errorf("docker inspect %s: the daemon sent no state", id)
	}
	return info.State, nil
}

func exitStatus(st *container.State) runtime.ExitStatus {
	es := runtime.ExitStatus{Code: st.ExitCode, OOMKilled: st.OOMKilled, Error: st.Error}
	if t, err := time.Parse(time.RFC3339Nano, st.FinishedAt); err == nil && t.Year() > 1 {
		es.FinishedAt = t
	}
	return es
}

// Stop sends SIGTERM and, after grace (rounded up to whole seconds, the
// API's unit), SIGKILL, and returns once the container is stopped. A
// container that is already stopped or gone is not an error. Retried on
// transient errors: stopping twice is harmless.
func (c *Client) Stop(ctx context.Context, id string, grace time.Duration) error {
	secs := max(0, int(math.Ceil(grace.Seconds())))
	err := c.do(ctx, "stop", id, func(ctx context.Context) error {
		return c.api.ContainerStop(ctx, id, container.StopOptions{Timeout: &secs})
	})
	if errors.Is(err, runtime.ErrNotFound) {
		return nil
	}
	return err
}

// Remove deletes the container, killing it if it still runs, with its
// anonymous volumes. A container that is already gone, or being removed by
// another call, is not an error. Retried on transient errors.
func (c *Client) Remove(ctx context.Context, id string) error {
	c.dropAttachment(id)
	err := c.do(ctx, "remove", id, func(ctx context.Context) error {
		err := c.api.ContainerRemove(ctx, id, container.RemoveOptions{Force: true, RemoveVolumes: true})
		if cerrdefs.IsConflict(err) && strings.Contains(err.Error(), "already in progress") {
			return nil
		}
		return err
	})
	if errors.Is(err, runtime.ErrNotFound) {
		return nil
	}
	return err
}

// List returns the run containers (those labelled runtime.LabelRunID) that
// carry every one of labels, running and exited. Exited ones are inspected
// for their exit status, so reconciliation can finalize them without another
// call. A container created but never started because its command could not
// be executed counts as exited with the daemon's exit code.
func (c *Client) List(ctx context.Context, labels map[string]string) ([]runtime.Container, error) {
	args := filters.NewArgs(filters.Arg("label", runtime.LabelRunID))
	for k, v := range labels {
		args.Add("label", k+"="+v)
	}
	var found []container.Summary
	err := c.do(ctx, "list", "containers", func(ctx context.Context) error {
		var err error
		found, err = c.api.ContainerList(ctx, container.ListOptions{All: true, Filters: args})
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]runtime.Container, 0, len(found))
	for _, s := range found {
		ctr := runtime.ContainerOf(s.ID, s.Labels)
		switch s.State {
		case "running", "paused", "restarting":
			ctr.State = runtime.StateRunning
		default: // created, exited, dead, removing
			st, err := c.inspect(ctx, s.ID)
			if errors.Is(err, runtime.ErrNotFound) {
				continue // removed since the list
			}
			if err != nil {
				return nil, fmt.Errorf("list: %w", err)
			}
			switch {
			case st.Running:
				ctr.State = runtime.StateRunning
			case st.Status == "created" && st.ExitCode == 0 && st.Error == "":
				ctr.State = runtime.StateCreated
			default:
				ctr.State = runtime.StateExited
				es := exitStatus(st)
				ctr.Exit = &es
			}
		}
		out = append(out, ctr)
	}
	return out, nil
}
