package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"

	"github.com/fastflow-dev/fastflow/runtime"
)

// ErrCodeTooLarge is returned, wrapped, by Start when a pipeline's files
// are more than a ConfigMap holds. It wraps ErrInvalidSpec.
var ErrCodeTooLarge = fmt.Errorf("%w: the pipeline's files are more than a ConfigMap holds", ErrInvalidSpec)

// maxCodeBytes is what the API server accepts in one ConfigMap's data.
const maxCodeBytes = 1 << 20

// codeKind is the LabelKind of code ConfigMaps.
const codeKind = "code"

// validRevision is a revision folder name: a commit SHA, never a path.
var validRevision = regexp.MustCompile(`^[0-9a-f]{7,64}$`)

// CodeConfigMapName is the name of the ConfigMap holding pipeline's files
// at revision, shared by every run of that pair.
func CodeConfigMapName(revision, pipeline string) string {
	return dnsName("fastflow-code-"+revision[:min(len(revision), 12)]+"-", pipeline, 63)
}

// codeConfigMap reads the files of the spec's pipeline at its revision into
// an immutable ConfigMap. Keys are numbered (a key cannot hold a '/'); the
// volume's items put each file at its path.
func (c *Client) codeConfigMap(spec runtime.RunSpec) (*codeVolume, error) {
	code := spec.Code
	switch {
	case c.revisions == "":
		return nil, fmt.Errorf("%w: the spec names code but the client has no revisions folder", ErrInvalidSpec)
	case code.Target == "" || !validRevision.MatchString(code.Revision):
		return nil, fmt.Errorf("%w: code %q at %q", ErrInvalidSpec, code.Revision, code.Target)
	case code.Pipeline == "" || code.Pipeline != filepath.Base(code.Pipeline) || code.Pipeline == "..":
		return nil, fmt.Errorf("%w: pipeline %q is not a folder name", ErrInvalidSpec, code.Pipeline)
	}
	root := filepath.Join(c.revisions, code.Revision, code.Pipeline)
	type file struct {
		rel  string
		data []byte
		exec bool
	}
	var (
		files []file
		total int
	)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			// Folders are made by the volume; links and devices have no
			// place in a ConfigMap.
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		total += int(info.Size())
		if total > maxCodeBytes {
			return nil // counted, not read: the refusal names the size
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		files = append(files, file{rel: filepath.ToSlash(rel), data: data, exec: info.Mode()&0o111 != 0})
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: no pipeline %s at revision %s", ErrInvalidSpec, code.Pipeline, code.Revision)
	}
	if err != nil {
		return nil, fmt.Errorf("read the code of %s at %s: %w", code.Pipeline, code.Revision, err)
	}
	if total > maxCodeBytes {
		return nil, fmt.Errorf("%w: %s at revision %s has %d bytes of files, over the %d a ConfigMap holds; "+
			"keep data out of the pipeline's folder or bake the code into the worker image",
			ErrCodeTooLarge, code.Pipeline, code.Revision, total, maxCodeBytes)
	}
	slices.SortFunc(files, func(a, b file) int { return strings.Compare(a.rel, b.rel) })
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Name:      CodeConfigMapName(code.Revision, code.Pipeline),
			Namespace: c.ns,
			Labels:    map[string]string{runtime.LabelKind: codeKind, runtime.LabelRevision: code.Revision},
		},
		Immutable:  new(true),
		BinaryData: make(map[string][]byte, len(files)),
	}
	if inst, ok := spec.Labels[runtime.LabelInstance]; ok {
		cm.Labels[runtime.LabelInstance] = inst
	}
	items := make([]corev1.KeyToPath, 0, len(files))
	for i, f := range files {
		key := fmt.Sprintf("f%d", i)
		cm.BinaryData[key] = f.data
		mode := int32(0o444)
		if f.exec {
			mode = 0o555
		}
		items = append(items, corev1.KeyToPath{Key: key, Path: f.rel, Mode: &mode})
	}
	return &codeVolume{cm: cm, items: items}, nil
}

// codeVolume is a pipeline's code: its ConfigMap and where each key goes.
type codeVolume struct {
	cm    *corev1.ConfigMap
	items []corev1.KeyToPath
}

// mountCode mounts code read-only at target in the run's container.
func mountCode(job *batchv1.Job, code *codeVolume, target string) {
	pod := &job.Spec.Template.Spec
	pod.Volumes = append(pod.Volumes, corev1.Volume{Name: "code", VolumeSource: corev1.VolumeSource{
		ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: code.cm.Name},
			Items:                code.items,
		},
	}})
	ctr := &pod.Containers[0]
	ctr.VolumeMounts = append(ctr.VolumeMounts, corev1.VolumeMount{Name: "code", MountPath: target, ReadOnly: true})
}

// shareBackoff spaces the attempts to share a code ConfigMap that another
// run is creating or the garbage collector deleting, about 3 s in all.
func shareBackoff() wait.Backoff {
	return wait.Backoff{Steps: 10, Duration: 50 * time.Millisecond, Factor: 1.5}
}

// shareCode makes job an owner of the code's ConfigMap, creating it when it
// is missing. The garbage collector deletes the ConfigMap once none of its
// owners is left: when no run of the revision and pipeline needs it.
func (c *Client) shareCode(ctx context.Context, code *codeVolume, job *batchv1.Job) error {
	owner := metav1.OwnerReference{APIVersion: "batch/v1", Kind: "Job", Name: job.Name, UID: job.UID}
	cms := c.api.CoreV1().ConfigMaps(c.ns)
	err := retry.RetryOnConflict(shareBackoff(), func() error {
		cm, err := cms.Get(ctx, code.cm.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			fresh := code.cm.DeepCopy()
			fresh.OwnerReferences = []metav1.OwnerReference{owner}
			_, err = cms.Create(ctx, fresh, metav1.CreateOptions{})
			if apierrors.IsAlreadyExists(err) {
				// Another run of the pair was first: add to its owners.
				return apierrors.NewConflict(corev1.Resource("configmaps"), code.cm.Name, err)
			}
			return err
		}
		if err != nil {
			return err
		}
		if cm.DeletionTimestamp != nil {
			// Its last owner went: wait for it to go and make it anew.
			return apierrors.NewConflict(corev1.Resource("configmaps"), code.cm.Name, errors.New("being deleted"))
		}
		for _, o := range cm.OwnerReferences {
			if o.UID == owner.UID {
				return nil // a repeated update that had gone through
			}
		}
		cm.OwnerReferences = append(cm.OwnerReferences, owner)
		_, err = cms.Update(ctx, cm, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return c.wrap("share code configmap", code.cm.Name, err)
	}
	return nil
}
