package kubernetes

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/rest"

	"github.com/fastflow-dev/fastflow/runtime"
)

func TestJobName(t *testing.T) {
	long := strings.Repeat("a", 60)
	tests := []struct {
		runID, want string
	}{
		{"01hx2k3m", "fastflow-01hx2k3m"},
		{"conf-0a1b2c", "fastflow-conf-0a1b2c"},
		{"Run_1.2", "fastflow-run-1-2-"},
		{"run-", "fastflow-run-"},
		{long, "fastflow-aaaa"},
	}
	seen := map[string]string{}
	for _, tt := range tests {
		got := JobName(tt.runID)
		if !strings.HasPrefix(got, tt.want) {
			t.Errorf("JobName(%q) = %q, want it to start with %q", tt.runID, got, tt.want)
		}
		if len(got) > maxNameLen {
			t.Errorf("JobName(%q) = %q is %d long, want at most %d", tt.runID, got, len(got), maxNameLen)
		}
		if errs := validation.IsDNS1123Label(got); len(errs) > 0 {
			t.Errorf("JobName(%q) = %q is no DNS label: %v", tt.runID, got, errs)
		}
		if other, ok := seen[got]; ok {
			t.Errorf("JobName(%q) = JobName(%q) = %q", tt.runID, other, got)
		}
		seen[got] = tt.runID
	}
	// Run IDs differing only where the name loses information stay apart.
	if JobName("a_b") == JobName("a.b") || JobName("A") == JobName("a") {
		t.Error("JobName maps distinct run IDs onto one name")
	}
}

func newOffline(t *testing.T, cfg Config) *Client {
	t.Helper()
	cfg.REST = &rest.Config{Host: "https://127.0.0.1:1"}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestJobSpec(t *testing.T) {
	c := newOffline(t, Config{Namespace: "runs", TTLAfterFinished: time.Hour, CachePVCs: map[string]string{runtime.CacheUV: "uv-cache"}})
	spec := runtime.RunSpec{
		RunID: "r1", Pipeline: "etl", Revision: "0123abcd", Kind: "run",
		Image: "worker:1", Command: []string{"uv", "run", "main.py"}, WorkDir: "/app/etl",
		Env:    map[string]string{"B": "2", "A": "1"},
		Labels: map[string]string{"team": "data", runtime.LabelPipeline: "spoofed"},
		Limits: runtime.Limits{NanoCPUs: 1_500_000_000, MemoryBytes: 256 << 20},
		Caches: []runtime.Cache{{Name: runtime.CacheUV, Target: "/root/.cache/uv"}, {Name: "other", Target: "/tmp/o"}},
		Mounts: []runtime.Mount{{Source: "/srv/wheels", Target: "/wheels", ReadOnly: true}},
		Init:   true,
	}
	job, err := c.job(spec)
	if err != nil {
		t.Fatal(err)
	}
	wantLabels := map[string]string{
		"team": "data", runtime.LabelPipeline: "etl", runtime.LabelRunID: "r1",
		runtime.LabelRevision: "0123abcd", runtime.LabelKind: "run",
	}
	if job.Name != "fastflow-r1" || job.Namespace != "runs" {
		t.Errorf("job %s/%s, want runs/fastflow-r1", job.Namespace, job.Name)
	}
	if diff := cmp.Diff(wantLabels, job.Labels); diff != "" {
		t.Errorf("job labels (-want +got):\n%s", diff)
	}
	spec.Deadline, spec.Secrets = 90*time.Second, []string{"B"}
	timed, err := c.job(spec)
	if err != nil {
		t.Fatal(err)
	}
	if d := timed.Spec.ActiveDeadlineSeconds; d == nil || *d != 150 {
		t.Errorf("activeDeadlineSeconds %v for a 90 s timeout, want 150 (a minute after the operator's own stop)", d)
	}
	if env := timed.Spec.Template.Spec.Containers[0].Env; len(env) != 2 || env[1].Value != "" || env[1].ValueFrom == nil ||
		env[1].ValueFrom.SecretKeyRef.Name != SecretName("r1") || env[1].ValueFrom.SecretKeyRef.Key != "B" {
		t.Errorf("secret env %+v, want B from the run's Secret", env)
	}
	spec.Deadline, spec.Secrets = 0, nil
	if diff := cmp.Diff(wantLabels, job.Spec.Template.Labels); diff != "" {
		t.Errorf("pod labels (-want +got):\n%s", diff)
	}
	if b := job.Spec.BackoffLimit; b == nil || *b != 0 {
		t.Errorf("backoffLimit %v, want 0", b)
	}
	if ttl := job.Spec.TTLSecondsAfterFinished; ttl == nil || *ttl != 3600 {
		t.Errorf("ttlSecondsAfterFinished %v, want 3600", ttl)
	}
	if job.Spec.ActiveDeadlineSeconds != nil {
		t.Errorf("activeDeadlineSeconds %v: the spec has no timeout", *job.Spec.ActiveDeadlineSeconds)
	}
	pod := job.Spec.Template.Spec
	if pod.RestartPolicy != corev1.RestartPolicyNever || pod.ShareProcessNamespace == nil || !*pod.ShareProcessNamespace {
		t.Errorf("restart policy %q, shared process namespace %v", pod.RestartPolicy, pod.ShareProcessNamespace)
	}
	ctr := pod.Containers[0]
	if diff := cmp.Diff([]corev1.EnvVar{{Name: "A", Value: "1"}, {Name: "B", Value: "2"}}, ctr.Env); diff != "" {
		t.Errorf("env (-want +got):\n%s", diff)
	}
	if ctr.WorkingDir != "/app/etl" || !cmp.Equal(ctr.Command, spec.Command) || ctr.Image != "worker:1" {
		t.Errorf("container %+v", ctr)
	}
	if cpu, mem := ctr.Resources.Limits.Cpu(), ctr.Resources.Limits.Memory(); cpu.MilliValue() != 1500 || mem.Value() != 256<<20 {
		t.Errorf("limits cpu %v memory %v, want 1500m and 256Mi", cpu, mem)
	}
	vols := map[string]corev1.VolumeSource{}
	for _, v := range pod.Volumes {
		vols[v.Name] = v.VolumeSource
	}
	mounts := map[string]corev1.VolumeMount{}
	for _, m := range ctr.VolumeMounts {
		mounts[m.MountPath] = m
	}
	if m := mounts["/root/.cache/uv"]; vols[m.Name].PersistentVolumeClaim == nil || vols[m.Name].PersistentVolumeClaim.ClaimName != "uv-cache" {
		t.Errorf("uv cache volume %+v, want the claim uv-cache", vols[m.Name])
	}
	if m := mounts["/tmp/o"]; vols[m.Name].EmptyDir == nil {
		t.Errorf("cache without a claim %+v, want an emptyDir", vols[m.Name])
	}
	if m := mounts["/wheels"]; !m.ReadOnly || vols[m.Name].HostPath == nil || vols[m.Name].HostPath.Path != "/srv/wheels" {
		t.Errorf("mount %+v of %+v, want /srv/wheels read-only", m, vols[m.Name])
	}
}

func TestJobSpecRefused(t *testing.T) {
	c := newOffline(t, Config{})
	withRevisions := newOffline(t, Config{RevisionsDir: t.TempDir()})
	base := runtime.RunSpec{RunID: "r1", Pipeline: "p", Revision: "abc", Kind: "run", Image: "i"}
	tests := []struct {
		name   string
		change func(*runtime.RunSpec)
		want   string
	}{
		{"no image", func(s *runtime.RunSpec) { s.Image = "" }, "empty image"},
		{"code without a revisions folder", func(s *runtime.RunSpec) { s.Code = &runtime.Code{Revision: "abcdef01", Pipeline: "p", Target: "/app"} }, "no revisions folder"},
		{"label value", func(s *runtime.RunSpec) { s.Revision = "main@sha1:0123" }, "fastflow-revision"},
		{"label key", func(s *runtime.RunSpec) { s.Labels = map[string]string{"bad key": "v"} }, `"bad key"`},
		{"code path", func(s *runtime.RunSpec) {
			s.Code = &runtime.Code{Revision: "abcdef01", Pipeline: "../p", Target: "/app"}
		}, "not a folder name"},
		{"code missing", func(s *runtime.RunSpec) { s.Code = &runtime.Code{Revision: "abcdef01", Pipeline: "p", Target: "/app"} }, "no pipeline p at revision abcdef01"},
		{"code revision", func(s *runtime.RunSpec) { s.Code = &runtime.Code{Revision: "../x", Pipeline: "p", Target: "/app"} }, "code"},
		{"cache", func(s *runtime.RunSpec) { s.Caches = []runtime.Cache{{Name: "uv"}} }, "cache"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := base
			tt.change(&spec)
			rt := c
			if spec.Code != nil && tt.want != "no revisions folder" {
				rt = withRevisions
			}
			_, err := rt.Start(context.Background(), spec)
			if !errors.Is(err, ErrInvalidSpec) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Start = %v, want ErrInvalidSpec naming %q", err, tt.want)
			}
		})
	}
}
