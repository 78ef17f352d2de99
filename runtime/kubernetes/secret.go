package kubernetes

import (
	"context"
	"fmt"
	"slices"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/fastflow-dev/fastflow/runtime"
)

// SecretName is the name of the Secret holding a run's secret env.
func SecretName(runID string) string { return dnsName("fastflow-env-", runID, 63) }

// runSecret is the Secret a spec's secret env goes in, nil when the spec
// names none. The Job's container reads each value through a
// secretKeyRef, so the values are never in the Job's own spec, which
// anyone allowed to list Jobs can read.
func runSecret(spec runtime.RunSpec, ns string, labels map[string]string) (*corev1.Secret, error) {
	if len(spec.Secrets) == 0 {
		return nil, nil
	}
	data := make(map[string][]byte, len(spec.Secrets))
	for _, n := range spec.Secrets {
		v, ok := spec.Env[n]
		if !ok {
			return nil, fmt.Errorf("%w: secret %q is not in the env", ErrInvalidSpec, n)
		}
		data[n] = []byte(v)
	}
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: SecretName(spec.RunID), Namespace: ns, Labels: labels},
		Type:       corev1.SecretTypeOpaque,
		Immutable:  new(true),
		Data:       data,
	}, nil
}

// secretEnv turns the container's env entries named in spec.Secrets into
// references to the run's Secret.
func secretEnv(ctr *corev1.Container, spec runtime.RunSpec) {
	if len(spec.Secrets) == 0 {
		return
	}
	name := SecretName(spec.RunID)
	for i, e := range ctr.Env {
		if slices.Contains(spec.Secrets, e.Name) {
			ctr.Env[i] = corev1.EnvVar{Name: e.Name, ValueFrom: &corev1.EnvVarSource{
				SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: e.Name},
			}}
		}
	}
}

// createSecret stores the run's Secret before its Job, so the pod finds
// it when it starts; ownSecret then hands it to the Job, whose deletion
// takes it along.
func (c *Client) createSecret(ctx context.Context, s *corev1.Secret) error {
	_, err := c.api.CoreV1().Secrets(c.ns).Create(ctx, s, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		if _, jerr := c.api.BatchV1().Jobs(c.ns).Get(ctx, JobName(s.Labels[runtime.LabelRunID]), metav1.GetOptions{}); jerr == nil {
			return fmt.Errorf("%w: %s", ErrRunExists, s.Name)
		}
		// A Start that failed after it: replace what it left.
		if derr := c.api.CoreV1().Secrets(c.ns).Delete(ctx, s.Name, metav1.DeleteOptions{}); derr != nil && !apierrors.IsNotFound(derr) {
			return c.wrap("delete stale secret", s.Name, derr)
		}
		_, err = c.api.CoreV1().Secrets(c.ns).Create(ctx, s, metav1.CreateOptions{})
	}
	if err != nil {
		return c.wrap("create secret", s.Name, err)
	}
	return nil
}

// ownSecret makes job the owner of the run's Secret.
func (c *Client) ownSecret(ctx context.Context, name string, job *batchv1.Job) error {
	patch := fmt.Appendf(nil, `{"metadata":{"ownerReferences":[{"apiVersion":"batch/v1","kind":"Job","name":%q,"uid":%q}]}}`, job.Name, job.UID)
	_, err := c.api.CoreV1().Secrets(c.ns).Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	if err != nil {
		return c.wrap("own secret", name, err)
	}
	return nil
}

// deleteSecret removes a run's Secret that no Job took over.
func (c *Client) deleteSecret(ctx context.Context, name string) error {
	err := c.api.CoreV1().Secrets(c.ns).Delete(ctx, name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return c.wrap("delete secret", name, err)
	}
	return nil
}
