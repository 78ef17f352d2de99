package kubernetes

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"math"
	"path"
	"slices"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/fastflow-dev/fastflow/runtime"
)

// containerName is the name of the run's one container in its pod.
const containerName = "run"

// podGrace is the grace period of a pod deleted without one of its own
// (by the Job's TTL or a node drain); Stop passes the caller's.
const podGrace = 10

// maxNameLen keeps a Job name usable as the value of the job-name label
// of its pods (63 characters).
const maxNameLen = 52

// JobName is the name of the Job of a run: fastflow-<run ID> in lower case.
// A run ID that is not a DNS label as it is (capitals, '_' or '.', or too
// long) gets a hash of itself appended, so two run IDs never share a Job.
func JobName(runID string) string {
	return dnsName("fastflow-", runID, maxNameLen)
}

// dnsName is prefix+s as a DNS label of at most limit characters: s as it
// is when it is one, else lowered, with '-' for what a label cannot hold,
// cut to fit and followed by a hash of s, so distinct s stay apart.
func dnsName(prefix, s string, limit int) string {
	name := prefix + s
	clean := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-':
			return r
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		}
		return '-'
	}, name)
	if clean == name && len(name) <= limit && !strings.HasSuffix(name, "-") {
		return name
	}
	sum := sha256.Sum256([]byte(s))
	suffix := "-" + hex.EncodeToString(sum[:4])
	if len(clean) > limit-len(suffix) {
		clean = clean[:limit-len(suffix)]
	}
	return strings.TrimRight(clean, "-") + suffix
}

// Start creates the run's Job. The kubelet pulls the image if the node
// lacks it; a pull that fails ends the run (Wait reports 125 with the
// kubelet's reason) rather than Start.
func (c *Client) Start(ctx context.Context, spec runtime.RunSpec) (string, error) {
	job, err := c.job(spec)
	if err != nil {
		return "", fmt.Errorf("start %s: %w", spec.RunID, err)
	}
	secret, err := runSecret(spec, c.ns, job.Labels)
	if err != nil {
		return "", fmt.Errorf("start %s: %w", spec.RunID, err)
	}
	var code *codeVolume
	if spec.Code != nil {
		if code, err = c.codeConfigMap(spec); err != nil {
			return "", fmt.Errorf("start %s: %w", spec.RunID, err)
		}
		mountCode(job, code, path.Join(spec.Code.Target, spec.Code.Pipeline))
	}
	if secret != nil {
		if err := c.createSecret(ctx, secret); err != nil {
			return "", fmt.Errorf("start %s: %w", spec.RunID, err)
		}
	}
	created, err := c.api.BatchV1().Jobs(c.ns).Create(ctx, job, metav1.CreateOptions{})
	if err != nil && secret != nil && !apierrors.IsAlreadyExists(err) {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		err = errors.Join(err, c.deleteSecret(cctx, secret.Name))
	}
	if apierrors.IsAlreadyExists(err) {
		return "", fmt.Errorf("start %s: %w: %s", spec.RunID, ErrRunExists, job.Name)
	}
	if err != nil {
		return "", fmt.Errorf("start %s: %w", spec.RunID, c.wrap("create job", job.Name, err))
	}
	if secret != nil {
		if err := c.ownSecret(ctx, secret.Name, created); err != nil {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
			defer cancel()
			return "", fmt.Errorf("start %s: %w", spec.RunID, errors.Join(err, c.Remove(cctx, job.Name), c.deleteSecret(cctx, secret.Name)))
		}
	}
	if code != nil {
		// After the Job, whose UID the ConfigMap's owner reference needs;
		// the kubelet waits for the volume meanwhile.
		if err := c.shareCode(ctx, code, created); err != nil {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
			defer cancel()
			if rerr := c.Remove(cctx, job.Name); rerr != nil {
				err = errors.Join(err, rerr)
			}
			return "", fmt.Errorf("start %s: %w", spec.RunID, err)
		}
	}
	return job.Name, nil
}

// deadlineMargin is how much longer than the run's timeout the cluster
// waits before it ends the Job itself.
const deadlineMargin = time.Minute

// cleanupTimeout bounds the removal of a Job that Start created but could
// not complete, on a context that outlives the caller's cancellation.
const cleanupTimeout = 30 * time.Second

// jobLabels returns the Job's labels: the spec's, then the runtime's own,
// which win, all checked against the API's rules for labels.
func jobLabels(spec runtime.RunSpec) (map[string]string, error) {
	out := spec.AllLabels()
	for _, k := range slices.Sorted(maps.Keys(out)) {
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			return nil, fmt.Errorf("%w: label %q: %s", ErrInvalidSpec, k, strings.Join(errs, "; "))
		}
		if errs := validation.IsValidLabelValue(out[k]); len(errs) > 0 {
			return nil, fmt.Errorf("%w: label %s=%q: %s", ErrInvalidSpec, k, out[k], strings.Join(errs, "; "))
		}
	}
	return out, nil
}

// job maps spec onto a batch/v1 Job.
func (c *Client) job(spec runtime.RunSpec) (*batchv1.Job, error) {
	if err := spec.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidSpec, err)
	}
	lbl, err := jobLabels(spec)
	if err != nil {
		return nil, err
	}
	ctr := corev1.Container{
		Name:            containerName,
		Image:           spec.Image,
		ImagePullPolicy: corev1.PullIfNotPresent,
		Command:         spec.Command,
		WorkingDir:      spec.WorkDir,
		// The kubelet reads the last lines of the output as the message of
		// a failed container; FallbackToLogsOnError keeps that to failures.
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}
	for _, k := range slices.Sorted(maps.Keys(spec.Env)) {
		ctr.Env = append(ctr.Env, corev1.EnvVar{Name: k, Value: spec.Env[k]})
	}
	secretEnv(&ctr, spec)
	if spec.Limits.MemoryBytes > 0 || spec.Limits.NanoCPUs > 0 {
		ctr.Resources.Limits = corev1.ResourceList{}
	}
	if m := spec.Limits.MemoryBytes; m > 0 {
		ctr.Resources.Limits[corev1.ResourceMemory] = *resource.NewQuantity(m, resource.BinarySI)
	}
	if n := spec.Limits.NanoCPUs; n > 0 {
		// The API's smallest CPU unit is a thousandth; round up so a tiny
		// limit is not zero, which would mean none.
		milli := int64(math.Ceil(float64(n) / 1e6))
		ctr.Resources.Limits[corev1.ResourceCPU] = *resource.NewMilliQuantity(milli, resource.DecimalSI)
	}
	var volumes []corev1.Volume
	for i, m := range spec.Mounts {
		name := fmt.Sprintf("mount-%d", i)
		dir := corev1.HostPathDirectory
		volumes = append(volumes, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{
			HostPath: &corev1.HostPathVolumeSource{Path: m.Source, Type: &dir},
		}})
		ctr.VolumeMounts = append(ctr.VolumeMounts, corev1.VolumeMount{Name: name, MountPath: m.Target, ReadOnly: m.ReadOnly})
	}
	for i, cache := range spec.Caches {
		if cache.Name == "" || cache.Target == "" {
			return nil, fmt.Errorf("%w: cache %q at %q", ErrInvalidSpec, cache.Name, cache.Target)
		}
		name := fmt.Sprintf("cache-%d", i)
		src := corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}
		if claim, ok := c.pvcs[cache.Name]; ok {
			src = corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}
		}
		volumes = append(volumes, corev1.Volume{Name: name, VolumeSource: src})
		ctr.VolumeMounts = append(ctr.VolumeMounts, corev1.VolumeMount{Name: name, MountPath: cache.Target})
	}
	grace := int64(podGrace)
	pod := corev1.PodSpec{
		RestartPolicy: corev1.RestartPolicyNever,
		Containers:    []corev1.Container{ctr},
		Volumes:       volumes,
		// Pipelines do not talk to the API server.
		AutomountServiceAccountToken:  new(false),
		EnableServiceLinks:            new(false),
		TerminationGracePeriodSeconds: &grace,
	}
	if spec.Init {
		// With a shared process namespace the pod's pause process is PID 1
		// and reaps zombies, and the pipeline receives SIGTERM like any
		// other process: what Docker's --init gives.
		pod.ShareProcessNamespace = new(true)
	}
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: JobName(spec.RunID), Namespace: c.ns, Labels: lbl},
		Spec: batchv1.JobSpec{
			// Retries are Fast-Flow's own: a failed pod ends the Job.
			BackoffLimit: new(int32(0)),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: maps.Clone(lbl)},
				Spec:       pod,
			},
		},
	}
	if spec.Deadline > 0 {
		// A safety net for an operator that is gone when the timeout
		// runs out; the operator's own stop, with its TIMEOUT outcome and
		// grace period, comes first.
		job.Spec.ActiveDeadlineSeconds = new(int64((spec.Deadline + deadlineMargin).Seconds()))
	}
	if c.ttl > 0 {
		job.Spec.TTLSecondsAfterFinished = new(int32(min(c.ttl.Seconds(), math.MaxInt32)))
	}
	return job, nil
}
