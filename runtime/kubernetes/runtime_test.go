package kubernetes_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

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

// writeRevision writes files (path: content) as pipeline at revision under
// a new revisions folder and returns the folder.
func writeRevision(t *testing.T, revision, pipeline string, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for p, content := range files {
		full := filepath.Join(dir, revision, pipeline, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestCodeFromConfigMap: the pipeline's files at the run's revision reach
// the pod read-only through one immutable ConfigMap, which the runs of that
// revision share and which goes once no run needs it.
func TestCodeFromConfigMap(t *testing.T) {
	const rev = "0123456789abcdef0123456789abcdef01234567"
	revisions := writeRevision(t, rev, "hello", map[string]string{
		"main.py":     "print('hello')\n",
		"data/in.txt": "nested file\n",
	})
	c := requireCluster(t, kubernetes.Config{RevisionsDir: revisions})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	script := `pwd; cat data/in.txt; python3 main.py; touch x 2>/dev/null && echo writable || echo read-only`
	var ids []string
	for range 2 {
		spec := newSpec(t, script)
		spec.Revision = rev
		spec.Code = &runtime.Code{Revision: rev, Pipeline: "hello", Target: "/app"}
		spec.WorkDir = "/app/hello"
		ids = append(ids, start(t, c, spec))
	}
	want := []string{"/app/hello", "nested file", "hello", "read-only"}
	for _, id := range ids {
		st, err := c.Wait(ctx, id)
		if err != nil || st.Code != 0 {
			t.Fatalf("Wait(%s) = %+v, %v; want 0", id, st, err)
		}
		ls, err := c.Logs(ctx, id, runtime.LogOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for {
			l, err := ls.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, l.Text)
		}
		ls.Close()
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("output of %s (-want +got):\n%s", id, diff)
		}
	}
	cms := kubernetes.API(c).CoreV1().ConfigMaps(c.Namespace())
	name := kubernetes.CodeConfigMapName(rev, "hello")
	cm, err := cms.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the code ConfigMap: %v", err)
	}
	if cm.Immutable == nil || !*cm.Immutable || len(cm.OwnerReferences) != 2 {
		t.Errorf("ConfigMap immutable %v with %d owners, want immutable with the two runs' Jobs", cm.Immutable, len(cm.OwnerReferences))
	}
	for _, id := range ids {
		if err := c.Remove(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(time.Minute)
	for {
		_, err := cms.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the code ConfigMap is still there a minute after its runs were removed (%v)", err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func TestCodeTooLarge(t *testing.T) {
	const rev = "0123456789abcdef0123456789abcdef01234567"
	revisions := writeRevision(t, rev, "big", map[string]string{
		"main.py":  "print(1)\n",
		"data.bin": strings.Repeat("x", 1<<20),
	})
	c, err := kubernetes.New(kubernetes.Config{REST: &rest.Config{Host: "https://127.0.0.1:1"}, RevisionsDir: revisions})
	if err != nil {
		t.Fatal(err)
	}
	spec := newSpec(t, "true")
	spec.Code = &runtime.Code{Revision: rev, Pipeline: "big", Target: "/app"}
	_, err = c.Start(context.Background(), spec)
	if !errors.Is(err, kubernetes.ErrCodeTooLarge) || !errors.Is(err, kubernetes.ErrInvalidSpec) ||
		!strings.Contains(err.Error(), "1048585 bytes") {
		t.Errorf("Start = %v, want ErrCodeTooLarge naming the size 1048585", err)
	}
}

// TestStatsCPU: the samples' CPU figures count as Docker's do, so the
// operator's percentage (CPU time over all cores' time, times the cores)
// of a busy loop held to half a CPU comes out near 50.
func TestStatsCPU(t *testing.T) {
	c := requireCluster(t, kubernetes.Config{})
	spec := newSpec(t, "timeout 6 sh -c 'while :; do :; done'; true")
	spec.Limits.NanoCPUs = 500_000_000
	id := start(t, c, spec)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := c.Stats(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var samples []runtime.Sample
	for {
		s, err := st.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("Stats.Next after %d samples: %v", len(samples), err)
		}
		samples = append(samples, s)
	}
	if len(samples) < 3 {
		t.Fatalf("%d samples from 6 s of a busy loop, want at least 3", len(samples))
	}
	// From the second sample on: the first may come before the loop runs.
	first, last := samples[1], samples[len(samples)-1]
	pct := float64(last.CPUTotalNs-first.CPUTotalNs) / float64(last.SystemCPUNs-first.SystemCPUNs) * float64(last.OnlineCPUs) * 100
	t.Logf("%d samples, %.1f%% CPU between the second and the last", len(samples), pct)
	if pct < 30 || pct > 60 {
		t.Errorf("CPU %.1f%% for a busy loop limited to half a CPU, want about 50", pct)
	}
}
