package kubernetes_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/fastflow-dev/fastflow/runtime"
	"github.com/fastflow-dev/fastflow/runtime/kubernetes"
	"github.com/fastflow-dev/fastflow/runtime/runtimetest"
)

func TestConformance(t *testing.T) {
	requireCluster(t, kubernetes.Config{})
	runtimetest.Run(t, runtimetest.Config{
		New:    func(t *testing.T) runtime.Runtime { return requireCluster(t, kubernetes.Config{}) },
		Image:  workerImage,
		Labels: testLabels(),
	})
}

func randomRunID(t *testing.T) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "kt-" + hex.EncodeToString(b)
}

func newSpec(t *testing.T, script string) runtime.RunSpec {
	return runtime.RunSpec{
		RunID:    randomRunID(t),
		Pipeline: "kubernetes-test",
		Revision: "0123abcd",
		Kind:     "kubernetes-test",
		Image:    workerImage,
		Command:  []string{"sh", "-c", script},
		Labels:   testLabels(),
	}
}

// start starts spec and removes its Job when t ends.
func start(t *testing.T, c *kubernetes.Client, spec runtime.RunSpec) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := c.Remove(ctx, kubernetes.JobName(spec.RunID)); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	id, err := c.Start(ctx, spec)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	return id
}

// TestRunsThatCannotStart: an image that cannot be pulled and a pod no node
// can take end the run with 125 and the kubelet's or the scheduler's words,
// instead of waiting for ever.
func TestRunsThatCannotStart(t *testing.T) {
	c := requireCluster(t, kubernetes.Config{ScheduleTimeout: 2 * time.Second})
	tests := []struct {
		name   string
		change func(*runtime.RunSpec)
		want   []string
	}{
		{"image", func(s *runtime.RunSpec) { s.Image = "fastflow-no-such-image:missing" }, []string{"ErrImagePull", "ImagePullBackOff"}},
		{"unschedulable", func(s *runtime.RunSpec) { s.Limits.NanoCPUs = 1000 * 1e9 }, []string{"unschedulable for 2s", "Insufficient cpu"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			spec := newSpec(t, "echo never")
			tt.change(&spec)
			id := start(t, c, spec)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			st, err := c.Wait(ctx, id)
			if err != nil {
				t.Fatalf("Wait: %v", err)
			}
			matched := false
			for _, w := range tt.want {
				matched = matched || strings.Contains(st.Error, w)
			}
			if st.Code != 125 || !matched {
				t.Errorf("Wait = %+v, want 125 with one of %q", st, tt.want)
			}
			found, err := c.List(ctx, map[string]string{runtime.LabelRunID: spec.RunID})
			if err != nil || len(found) != 1 || found[0].State != runtime.StateExited || found[0].Exit == nil || found[0].Exit.Code != 125 {
				t.Errorf("List = %+v, %v; want the run exited with 125", found, err)
			}
			ls, err := c.Logs(ctx, id, runtime.LogOptions{Follow: true})
			if err != nil {
				t.Fatalf("Logs: %v", err)
			}
			defer ls.Close()
			if l, err := ls.Next(); !errors.Is(err, io.EOF) {
				t.Errorf("Logs of a run that never ran: %+v, %v; want io.EOF", l, err)
			}
		})
	}
}

// TestStopDeletesThePodOnly: Stop kills through the pod's deletion; the Job
// stays with the exit recorded, and its controller starts no other pod.
func TestStopDeletesThePodOnly(t *testing.T) {
	c := requireCluster(t, kubernetes.Config{})
	spec := newSpec(t, "trap 'echo term; exit 7' TERM; echo ready; while :; do sleep 0.1; done")
	id := start(t, c, spec)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ls, err := c.Logs(ctx, id, runtime.LogOptions{Follow: true})
	if err != nil {
		t.Fatalf("Logs: %v", err)
	}
	defer ls.Close()
	if l, err := ls.Next(); err != nil || l.Text != "ready" {
		t.Fatalf("first line %+v, %v; want ready", l, err)
	}
	if err := c.Stop(ctx, id, 5*time.Second); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	st, err := c.Wait(ctx, id)
	if err != nil || st.Code != 7 {
		t.Fatalf("Wait = %+v, %v; want the trap's 7", st, err)
	}
	// Long enough for the Job controller to have made a second pod if it
	// were going to.
	time.Sleep(3 * time.Second)
	pods, err := kubernetes.API(c).CoreV1().Pods(c.Namespace()).List(ctx, metav1.ListOptions{LabelSelector: "batch.kubernetes.io/job-name=" + id})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			t.Errorf("pod %s (%s) of the stopped Job is not being deleted", p.Name, p.Status.Phase)
		}
	}
	found, err := c.List(ctx, map[string]string{runtime.LabelRunID: spec.RunID})
	if err != nil || len(found) != 1 || found[0].Exit == nil || found[0].Exit.Code != 7 {
		t.Errorf("List = %+v, %v; want the stopped run with its exit 7", found, err)
	}
}
