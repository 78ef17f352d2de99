package kubernetes

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/fastflow-dev/fastflow/runtime"
)

// exitAnnotation holds, as JSON, the exit status Stop observed on the Job
// whose pod it deleted, so Wait and List report it once the pod is gone.
const exitAnnotation = "fastflow-exit-status"

// resync bounds how long a watch may miss a change (or a schedule
// timeout go unnoticed) before the state is read again.
const resync = 10 * time.Second

// The waiting reasons after which the kubelet will not start the
// container by itself.
var pullFailures = map[string]bool{
	"ErrImagePull": true, "ImagePullBackOff": true, "InvalidImageName": true,
	"ErrImageNeverPull": true, "ImageInspectError": true, "RegistryUnavailable": true,
}

// Wait blocks until the run's container has ended and returns how.
func (c *Client) Wait(ctx context.Context, id string) (runtime.ExitStatus, error) {
	var out runtime.ExitStatus
	err := c.observe(ctx, id, func(job *batchv1.Job, pods []podState) (bool, error) {
		st, ok, err := c.decide(job, pods, time.Now())
		out = st
		return ok, err
	})
	if err != nil {
		return runtime.ExitStatus{}, err
	}
	return out, nil
}

// podState is a pod as the observer last saw it; gone: deleted since.
type podState struct {
	pod  *corev1.Pod
	gone bool
}

// decide says whether the run has ended, from its Job and pods.
func (c *Client) decide(job *batchv1.Job, pods []podState, now time.Time) (runtime.ExitStatus, bool, error) {
	if st, ok := recorded(job); ok {
		return st, true, nil
	}
	live := false
	for _, p := range pods {
		if st, ok := c.podOutcome(p.pod, now); ok {
			return st, true, nil
		}
		live = live || !p.gone
	}
	if live {
		return runtime.ExitStatus{}, false, nil
	}
	for _, cond := range job.Status.Conditions {
		if cond.Type == batchv1.JobFailed && cond.Status == corev1.ConditionTrue {
			return runtime.ExitStatus{
				Code: 125, Error: strings.TrimSpace("the Job failed: " + cond.Reason + " " + cond.Message),
				FinishedAt: cond.LastTransitionTime.Time,
			}, true, nil
		}
	}
	return runtime.ExitStatus{}, false, nil
}

// recorded returns the exit status Stop wrote on job.
func recorded(job *batchv1.Job) (runtime.ExitStatus, bool) {
	raw, ok := job.Annotations[exitAnnotation]
	if !ok {
		return runtime.ExitStatus{}, false
	}
	var st runtime.ExitStatus
	if err := json.Unmarshal([]byte(raw), &st); err != nil {
		return runtime.ExitStatus{Code: 125, Error: "unreadable exit status annotation: " + err.Error()}, true
	}
	return st, true
}

// runContainer returns the status of the run's container in pod.
func runContainer(pod *corev1.Pod) *corev1.ContainerStatus {
	for i := range pod.Status.ContainerStatuses {
		if pod.Status.ContainerStatuses[i].Name == containerName {
			return &pod.Status.ContainerStatuses[i]
		}
	}
	return nil
}

// podOutcome says whether the run's container in pod has ended, or will
// never start.
func (c *Client) podOutcome(pod *corev1.Pod, now time.Time) (runtime.ExitStatus, bool) {
	if cs := runContainer(pod); cs != nil {
		if t := cs.State.Terminated; t != nil {
			return terminated(t), true
		}
		if w := cs.State.Waiting; w != nil && pullFailures[w.Reason] {
			return runtime.ExitStatus{Code: 125, Error: strings.TrimSpace(w.Reason + ": " + w.Message), FinishedAt: now}, true
		}
	}
	if pod.Status.Phase == corev1.PodFailed || pod.Status.Phase == corev1.PodSucceeded {
		msg := strings.TrimSpace(pod.Status.Reason + " " + pod.Status.Message)
		if msg == "" {
			msg = "the pod ended without its container"
		}
		return runtime.ExitStatus{Code: 125, Error: msg, FinishedAt: now}, true
	}
	for _, cond := range pod.Status.Conditions {
		if cond.Type == corev1.PodScheduled && cond.Status == corev1.ConditionFalse &&
			cond.Reason == corev1.PodReasonUnschedulable && now.Sub(cond.LastTransitionTime.Time) >= c.schedule {
			return runtime.ExitStatus{
				Code: 125, Error: fmt.Sprintf("unschedulable for %v: %s", c.schedule, cond.Message), FinishedAt: now,
			}, true
		}
	}
	return runtime.ExitStatus{}, false
}

// terminated maps a container's terminated state onto an exit status. A
// command the runtime could not execute is reported as a shell would:
// 127 when it does not exist, 126 when it is not executable.
func terminated(t *corev1.ContainerStateTerminated) runtime.ExitStatus {
	st := runtime.ExitStatus{Code: int(t.ExitCode), OOMKilled: t.Reason == "OOMKilled", FinishedAt: t.FinishedAt.Time}
	switch t.Reason {
	case "Completed", "Error", "OOMKilled":
	default:
		st.Error = strings.TrimSpace(t.Reason + ": " + t.Message)
		msg := strings.ToLower(t.Message)
		switch {
		case t.ExitCode != 128:
		case strings.Contains(msg, "no such file or directory"), strings.Contains(msg, "not found"):
			st.Code = 127
		case strings.Contains(msg, "permission denied"):
			st.Code = 126
		}
	}
	return st
}

// observe calls see with the run's Job and its pods, first as they are and
// then after every change of a pod (watched) and at least every resync,
// until see says it is done or fails, or ctx ends. A Job that does not
// exist (or no longer does) is ErrNotFound.
func (c *Client) observe(ctx context.Context, id string, see func(*batchv1.Job, []podState) (bool, error)) error {
	sel := labels.Set{batchv1.JobNameLabel: id}.String()
	for {
		job, err := c.api.BatchV1().Jobs(c.ns).Get(ctx, id, metav1.GetOptions{})
		if err != nil {
			return c.wrap("get job", id, err)
		}
		list, err := c.api.CoreV1().Pods(c.ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			return c.wrap("list pods of", id, err)
		}
		pods := make(map[string]podState, len(list.Items))
		for i := range list.Items {
			pods[list.Items[i].Name] = podState{pod: &list.Items[i]}
		}
		if done, err := see(job, values(pods)); done || err != nil {
			return err
		}
		w, err := c.api.CoreV1().Pods(c.ns).Watch(ctx, metav1.ListOptions{LabelSelector: sel, ResourceVersion: list.ResourceVersion})
		if err != nil {
			return c.wrap("watch pods of", id, err)
		}
		done, err := c.follow(ctx, w, id, job, pods, see)
		w.Stop()
		if done || err != nil {
			return err
		}
	}
}

// follow feeds see from w until see is done, the watch ends, or resync
// passes; done false asks observe to read everything again.
func (c *Client) follow(ctx context.Context, w watch.Interface, id string, job *batchv1.Job, pods map[string]podState,
	see func(*batchv1.Job, []podState) (bool, error)) (bool, error) {
	timer := time.NewTimer(resync)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-timer.C:
			return false, nil
		case ev, ok := <-w.ResultChan():
			if !ok {
				return false, nil
			}
			pod, isPod := ev.Object.(*corev1.Pod)
			if !isPod {
				// A watch error (the resource version is too old, say):
				// read everything again.
				return false, nil
			}
			pods[pod.Name] = podState{pod: pod, gone: ev.Type == watch.Deleted}
			if ev.Type == watch.Deleted {
				// A deleted pod may mean the Job went (Remove) or that
				// Stop recorded the exit on it: read the Job again.
				fresh, err := c.api.BatchV1().Jobs(c.ns).Get(ctx, id, metav1.GetOptions{})
				switch {
				case err == nil:
					job = fresh
				case !apierrors.IsNotFound(err):
					return false, c.wrap("get job", id, err)
				default:
					// Removed: only an end seen on the way out answers.
					if _, ok := c.podOutcome(pod, time.Now()); !ok {
						return false, c.wrap("get job", id, err)
					}
				}
			}
			if done, err := see(job, values(pods)); done || err != nil {
				return done, err
			}
		}
	}
}

func values(m map[string]podState) []podState {
	out := make([]podState, 0, len(m))
	for _, p := range m {
		out = append(out, p)
	}
	return out
}
