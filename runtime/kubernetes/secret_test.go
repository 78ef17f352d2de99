package kubernetes_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/fastflow-dev/fastflow/runtime"
	"github.com/fastflow-dev/fastflow/runtime/kubernetes"
)

// TestSecretEnv: a spec's secret env reaches the container through a
// per-run Secret owned by the Job; the value is nowhere in the Job's
// spec; the Secret goes with the Job.
func TestSecretEnv(t *testing.T) {
	c := requireCluster(t, kubernetes.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const value = "s3cr3t-value-for-the-pod"
	spec := newSpec(t, `echo "token=$TOKEN day=$DAY"`)
	spec.Env = map[string]string{"TOKEN": value, "DAY": "friday"}
	spec.Secrets = []string{"TOKEN"}
	id := start(t, c, spec)
	if st, err := c.Wait(ctx, id); err != nil || st.Code != 0 {
		t.Fatalf("Wait = %+v, %v", st, err)
	}
	ls, err := c.Logs(ctx, id, runtime.LogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for {
		l, err := ls.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, l.Text)
	}
	ls.Close()
	if want := "token=" + value + " day=friday"; len(out) != 1 || out[0] != want {
		t.Errorf("output %q, want %q", out, want)
	}
	api := kubernetes.API(c)
	job, err := api.BatchV1().Jobs(c.Namespace()).Get(ctx, id, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(job)
	if strings.Contains(string(raw), value) {
		t.Error("the secret's value is in the Job's spec")
	}
	if !strings.Contains(string(raw), `"DAY","value":"friday"`) {
		t.Errorf("the plain env is not in the Job's spec: %s", raw)
	}
	secrets := api.CoreV1().Secrets(c.Namespace())
	s, err := secrets.Get(ctx, kubernetes.SecretName(spec.RunID), metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the run's Secret: %v", err)
	}
	if len(s.OwnerReferences) != 1 || s.OwnerReferences[0].UID != job.UID || string(s.Data["TOKEN"]) != value || len(s.Data) != 1 {
		t.Errorf("Secret owners %+v, keys %d; want the Job as its owner and TOKEN only", s.OwnerReferences, len(s.Data))
	}
	if err := c.Remove(ctx, id); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		_, err := secrets.Get(ctx, s.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the run's Secret is still there a minute after its Job was removed (%v)", err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
