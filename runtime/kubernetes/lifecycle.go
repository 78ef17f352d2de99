package kubernetes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/fastflow-dev/fastflow/runtime"
)

// Stop deletes the run's pod with grace (rounded up to whole seconds, at
// least one: zero would remove the pod from the API before the kubelet
// reports how its container ended), which sends SIGTERM and SIGKILL after
// grace, waits until the container has ended and records that on the Job.
// The Job stays for Wait, Logs of the stream already open, and Remove. A
// run that has ended, or is gone, is left as it is.
func (c *Client) Stop(ctx context.Context, id string, grace time.Duration) error {
	secs := max(1, int64(math.Ceil(grace.Seconds())))
	var (
		st      runtime.ExitStatus
		deleted = map[types.UID]bool{}
	)
	err := c.observe(ctx, id, func(job *batchv1.Job, pods []podState) (bool, error) {
		if s, ok, err := c.decide(job, pods, time.Now()); ok || err != nil {
			st = s
			return true, err
		}
		if len(pods) == 0 && !jobFinished(job) {
			// No pod yet: keep the Job controller from making one.
			return true, c.suspend(ctx, id)
		}
		for _, p := range pods {
			if !p.gone {
				continue
			}
			if deleted[p.pod.UID] {
				// Gone without the end of its container: killed before it ran.
				st = runtime.ExitStatus{Code: 137, Error: "stopped before the container started", FinishedAt: time.Now()}
				return true, nil
			}
		}
		for _, p := range pods {
			if p.gone || deleted[p.pod.UID] {
				continue
			}
			uid := p.pod.UID
			err := c.api.CoreV1().Pods(c.ns).Delete(ctx, p.pod.Name, metav1.DeleteOptions{
				GracePeriodSeconds: &secs, Preconditions: &metav1.Preconditions{UID: &uid},
			})
			if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
				return false, c.wrap("delete pod", p.pod.Name, err)
			}
			deleted[uid] = true
		}
		return false, nil
	})
	switch {
	case errors.Is(err, runtime.ErrNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("stop %s: %w", id, err)
	case len(deleted) == 0:
		// Ended by itself (its pod keeps the state), or suspended.
		return nil
	}
	// The pod goes away: its end stays on the Job.
	if err := c.record(ctx, id, st); err != nil {
		return fmt.Errorf("stop %s: %w", id, err)
	}
	return nil
}

// record writes st on the Job unless an exit status is recorded already.
func (c *Client) record(ctx context.Context, id string, st runtime.ExitStatus) error {
	raw, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encode exit status: %w", err)
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{exitAnnotation: string(raw)}}})
	if err != nil {
		return fmt.Errorf("encode patch: %w", err)
	}
	_, err = c.api.BatchV1().Jobs(c.ns).Patch(ctx, id, types.MergePatchType, patch, metav1.PatchOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return c.wrap("record exit on job", id, err)
	}
	return nil
}

// suspend keeps the Job controller from starting the run's pod and records
// the run as stopped.
func (c *Client) suspend(ctx context.Context, id string) error {
	patch := []byte(`{"spec":{"suspend":true}}`)
	if _, err := c.api.BatchV1().Jobs(c.ns).Patch(ctx, id, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return c.wrap("suspend job", id, err)
	}
	return c.record(ctx, id, runtime.ExitStatus{Code: 137, Error: "stopped before the pod was created", FinishedAt: time.Now()})
}

func jobFinished(job *batchv1.Job) bool {
	for _, cond := range job.Status.Conditions {
		if (cond.Type == batchv1.JobComplete || cond.Type == batchv1.JobFailed) && cond.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// Remove deletes the run's Job with propagation policy Background (the
// batch/v1 default orphans the pod, which would keep running) and its
// pods with a grace of one second, so a running container is killed. A
// Job that is gone is not an error.
func (c *Client) Remove(ctx context.Context, id string) error {
	bg := metav1.DeletePropagationBackground
	err := c.api.BatchV1().Jobs(c.ns).Delete(ctx, id, metav1.DeleteOptions{PropagationPolicy: &bg})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("remove %s: %w", id, c.wrap("delete job", id, err))
	}
	one := int64(1)
	sel := labels.Set{batchv1.JobNameLabel: id}.String()
	err = c.api.CoreV1().Pods(c.ns).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: &one},
		metav1.ListOptions{LabelSelector: sel})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("remove %s: %w", id, c.wrap("delete pods of", id, err))
	}
	return nil
}

// List returns the runs' Jobs (labelled runtime.LabelRunID) carrying every
// one of want, with their state: exited with the exit status once their
// container ended, running otherwise (a pod still being scheduled or
// created counts as started: Start's work is done).
func (c *Client) List(ctx context.Context, want map[string]string) ([]runtime.Container, error) {
	for k, v := range want {
		if len(validation.IsQualifiedName(k)) > 0 || len(validation.IsValidLabelValue(v)) > 0 {
			// Start refuses such labels: no Job carries them.
			return nil, nil
		}
	}
	req, err := labels.NewRequirement(runtime.LabelRunID, selection.Exists, nil)
	if err != nil {
		return nil, fmt.Errorf("list: %w", err)
	}
	sel := labels.SelectorFromSet(want).Add(*req)
	jobs, err := c.api.BatchV1().Jobs(c.ns).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil, fmt.Errorf("list: %w", c.wrap("list jobs", sel.String(), err))
	}
	if len(jobs.Items) == 0 {
		return nil, nil
	}
	// The pods carry the Jobs' labels: one list for all of them.
	pods, err := c.api.CoreV1().Pods(c.ns).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil, fmt.Errorf("list: %w", c.wrap("list pods", sel.String(), err))
	}
	byJob := map[string][]podState{}
	for i := range pods.Items {
		p := &pods.Items[i]
		byJob[p.Labels[batchv1.JobNameLabel]] = append(byJob[p.Labels[batchv1.JobNameLabel]], podState{pod: p})
	}
	now := time.Now()
	out := make([]runtime.Container, 0, len(jobs.Items))
	for i := range jobs.Items {
		job := &jobs.Items[i]
		ctr := runtime.ContainerOf(job.Name, job.Labels)
		ctr.State = runtime.StateRunning
		if st, ok, _ := c.decide(job, byJob[job.Name], now); ok {
			ctr.State, ctr.Exit = runtime.StateExited, &st
		}
		out = append(out, ctr)
	}
	return out, nil
}
