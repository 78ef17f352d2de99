package kubernetes_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/fastflow-dev/fastflow/internal/testenv"
	"github.com/fastflow-dev/fastflow/runtime"
	"github.com/fastflow-dev/fastflow/runtime/kubernetes"
)

// workerImage is the image scripts/k8s-cluster.sh imports into the
// cluster's containerd from Docker.
const workerImage = "fastflow-worker:local"

// ownerLabel marks every Job this test binary creates, so TestMain finds
// its own leftovers.
const ownerLabel = "fastflow-test-owner"

var owner = "runtime-kubernetes-" + strconv.Itoa(os.Getpid())

func testLabels() map[string]string {
	return map[string]string{"fastflow-test": "1", ownerLabel: owner}
}

// kubeconfig is where the tests find the cluster: KUBECONFIG, else the
// path scripts/k8s-cluster.sh writes.
func kubeconfig() string {
	if p := os.Getenv("KUBECONFIG"); p != "" {
		return p
	}
	state := os.Getenv("FASTFLOW_K8S_STATE")
	if state == "" {
		state = "/run/fastflow-k8s"
	}
	return filepath.Join(state, "kubeconfig")
}

// ping says why no cluster answers, nil when one does.
func ping() error {
	path := kubeconfig()
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("no kubeconfig (run scripts/k8s-cluster.sh up): %w", err)
	}
	c, err := kubernetes.New(kubernetes.Config{Kubeconfig: path})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Ping(ctx); err != nil {
		return fmt.Errorf("the cluster of %s does not answer (run scripts/k8s-cluster.sh up): %w", path, err)
	}
	return nil
}

// requireCluster returns a client of the test cluster: the test is skipped
// without one on a developer's machine and fails under CI=true.
func requireCluster(t testing.TB, cfg kubernetes.Config) *kubernetes.Client {
	t.Helper()
	testenv.Require(t, "a Kubernetes cluster", ping())
	cfg.Kubeconfig = kubeconfig()
	c, err := kubernetes.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestMain fails the run when a test left a Job behind: every test must
// remove what it starts, on every path.
func TestMain(m *testing.M) {
	code := m.Run()
	if ping() == nil {
		if err := sweep(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

func sweep() error {
	c, err := kubernetes.New(kubernetes.Config{Kubeconfig: kubeconfig()})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	left, err := c.List(ctx, map[string]string{ownerLabel: owner})
	if err != nil {
		return fmt.Errorf("list leftovers: %w", err)
	}
	var errs []error
	for _, l := range left {
		errs = append(errs, fmt.Errorf("a test left the Job %s (run %s) behind", l.ID, l.RunID))
		if err := c.Remove(ctx, l.ID); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

var _ runtime.Runtime = (*kubernetes.Client)(nil)
