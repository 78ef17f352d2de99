package deploy

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/fastflow-dev/fastflow/internal/testenv"
)

// kubectl returns a kubectl command line on the test cluster that
// scripts/k8s-cluster.sh runs, failing under CI=true when none answers.
func kubectl(t *testing.T) func(args ...string) (string, error) {
	t.Helper()
	root := repoRoot(t)
	out, err := exec.Command("bash", filepath.Join(root, "scripts", "k8s-cluster.sh"), "env").Output()
	env := os.Environ()
	if err == nil {
		for _, line := range strings.Split(string(out), "\n") {
			kv, ok := strings.CutPrefix(line, "export ")
			if !ok {
				continue
			}
			k, v, _ := strings.Cut(kv, "=")
			v = strings.Trim(v, `"`)
			v = strings.ReplaceAll(v, `"$PATH"`, os.Getenv("PATH"))
			v = strings.ReplaceAll(v, `$PATH`, os.Getenv("PATH"))
			env = append(env, k+"="+v)
		}
	}
	run := func(args ...string) (string, error) {
		cmd := exec.Command("kubectl", args...)
		cmd.Env = env
		for _, kv := range env {
			if p, ok := strings.CutPrefix(kv, "PATH="); ok {
				if lp, err := lookPath("kubectl", p); err == nil {
					cmd.Path = lp
				}
			}
		}
		b, err := cmd.CombinedOutput()
		return string(b), err
	}
	if _, perr := run("get", "--raw", "/readyz"); err != nil || perr != nil {
		testenv.Require(t, "a Kubernetes cluster", fmt.Errorf("no cluster answers (run scripts/k8s-cluster.sh up): %v %v", err, perr))
	}
	return run
}

// TestKubernetesManifest: deploy/kubernetes/fastflow.yaml is accepted by a
// real API server (a server-side dry run in a namespace of the test's
// own, which validates every object and field against the cluster's
// schemas), runs two replicas on the Kubernetes runtime, and sets only
// settings the README documents.
func TestKubernetesManifest(t *testing.T) {
	root := repoRoot(t)
	manifest := filepath.Join(root, "deploy", "kubernetes", "fastflow.yaml")
	text := readFile(t, manifest)
	for _, want := range []string{"replicas: 2", "value: kubernetes", "ReadWriteMany", "nodes/proxy", "pods/log"} {
		if !strings.Contains(text, want) {
			t.Errorf("the manifest lacks %q", want)
		}
	}
	readme := readFile(t, filepath.Join(root, "README.md"))
	for _, m := range regexp.MustCompile(`(?m)^\s+- name: ([A-Z][A-Z0-9_]*)$`).FindAllStringSubmatch(text, -1) {
		if !strings.Contains(readme, "| `"+m[1]+"` |") {
			t.Errorf("the manifest sets %s, which the README's configuration table does not document", m[1])
		}
	}

	k := kubectl(t)
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	ns := "ff-deploy-" + hex.EncodeToString(b)
	if out, err := k("create", "namespace", ns); err != nil {
		t.Fatalf("create namespace: %v\n%s", err, out)
	}
	t.Cleanup(func() { _, _ = k("delete", "namespace", ns, "--wait=false") })
	out, err := k("apply", "--dry-run=server", "-n", ns, "-f", manifest)
	if err != nil {
		t.Fatalf("the API server refuses the manifest: %v\n%s", err, out)
	}
	for _, obj := range []string{"serviceaccount/fastflow", "role.rbac.authorization.k8s.io/fastflow-runs",
		"clusterrole.rbac.authorization.k8s.io/fastflow-node-stats", "persistentvolumeclaim/fastflow-logs",
		"deployment.apps/fastflow", "service/fastflow"} {
		if !strings.Contains(out, obj) {
			t.Errorf("dry run did not report %s:\n%s", obj, out)
		}
	}
}

// lookPath finds name in the PATH list path.
func lookPath(name, path string) (string, error) {
	for _, dir := range filepath.SplitList(path) {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", exec.ErrNotFound
}
