package operator

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/client"

	"github.com/fastflow-dev/fastflow/runtime"
	"github.com/fastflow-dev/fastflow/runtime/docker"
	"github.com/fastflow-dev/fastflow/runtime/docker/dockertest"
)

// dockerObjects makes the scenario's objects in the real daemon through
// its API, each removed when the test ends.
type dockerObjects struct {
	api *client.Client
}

func (d dockerObjects) container(t *testing.T, labels map[string]string, running bool) string {
	t.Helper()
	cmd := []string{"true"}
	if running {
		cmd = []string{"sleep", "300"}
	}
	return dockertest.MustCreateContainer(t, d.api, dockertest.Container{Image: workerImage, Cmd: cmd, Labels: labels, Start: true})
}

func (d dockerObjects) volume(t *testing.T, name string, labels map[string]string, inUse bool) {
	t.Helper()
	dockertest.CreateVolume(t, d.api, name, labels)
	if inUse {
		dockertest.MustCreateContainer(t, d.api, dockertest.Container{Image: workerImage, Cmd: []string{"true"}, Volume: name})
	}
}

func (d dockerObjects) image(t *testing.T, labels map[string]string, inUse bool) string {
	t.Helper()
	id := dockertest.CreateDanglingImage(t, d.api, workerImage, labels)
	if inUse {
		dockertest.MustCreateContainer(t, d.api, dockertest.Container{Image: id, Cmd: []string{"true"}})
	}
	return id
}

func (d dockerObjects) exists(t *testing.T, kind, id string) bool {
	t.Helper()
	return dockertest.Exists(t, d.api, kind, id)
}

// uniquePrefix keeps one test's object names and labels apart from
// another's on the shared daemon.
func uniquePrefix(base string) string {
	return base + "-" + rand.Text()[:8]
}

// TestJanitorPassDocker runs the scenario against the real daemon:
// containers of finished, unknown, running and pending runs, warm-up
// leftovers, volumes, dangling images, each beside an unlabelled one and
// one of another installation; a dry pass removes nothing and finds the
// same; the pass removes exactly the ones nothing owns.
func TestJanitorPassDocker(t *testing.T) {
	t.Parallel()
	requireWorkerImage(t)
	api := dockertest.API(t)
	rt, err := docker.New(docker.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Close() })
	runJanitorScenario(t, rt, dockerObjects{api: api}, uniquePrefix("jd"))
}

// janitorTarget is the speed target of a pass over 1,000 containers.
const janitorTarget = 10 * time.Second

// BenchmarkJanitorPass times one janitor pass over
// FASTFLOW_BENCH_JANITOR_CONTAINERS (default 1,000) exited containers of
// this installation whose runs the store does not know, all removed. The
// containers are made beforehand, in parallel, outside the timing. It
// prints the pass's time and its ratio to the 10 s target.
func BenchmarkJanitorPass(b *testing.B) {
	requireWorkerImage(b)
	api := dockertest.API(b)
	n := 1000
	if v, err := strconv.Atoi(os.Getenv("FASTFLOW_BENCH_JANITOR_CONTAINERS")); err == nil && v > 0 {
		n = v
	}
	rt, err := docker.New(docker.Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = rt.Close() })
	ctx := context.Background()
	store := newJanitorStore(b)
	for b.Loop() {
		b.StopTimer()
		instance := uniquePrefix("jb")
		ownInstances.Store(instance, true)
		ids := makeContainers(b, api, n, map[string]string{runtime.LabelInstance: instance, runtime.LabelKind: "run"})
		j := newJanitor(JanitorConfig{}, instance, rt, store, nil, realClock{}, slog.New(slog.DiscardHandler), nil, nil)
		b.StartTimer()
		t0 := time.Now()
		res, err := j.pass(ctx)
		took := time.Since(t0)
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		if res.Containers != len(ids) {
			b.Fatalf("pass removed %d containers, want %d", res.Containers, len(ids))
		}
		b.ReportMetric(took.Seconds(), "s/pass")
		b.ReportMetric(took.Seconds()/janitorTarget.Seconds(), "ratio_to_10s")
		fmt.Printf("janitor pass: %d containers in %s, %.2f of the %s target\n", n, took.Round(time.Millisecond), took.Seconds()/janitorTarget.Seconds(), janitorTarget)
		b.StartTimer()
	}
}

// makeContainers creates n exited containers with labels (and a run ID
// each) in parallel, and removes whatever of them is left when b ends.
func makeContainers(b *testing.B, api *client.Client, n int, labels map[string]string) []string {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	t0 := time.Now()
	ids := make([]string, n)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	const workers = 16
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				l := map[string]string{runtime.LabelRunID: fmt.Sprintf("bench-%05d", i), runtime.LabelPipeline: "bench"}
				maps.Copy(l, labels)
				id, err := dockertest.CreateContainer(ctx, api, dockertest.Container{Image: workerImage, Cmd: []string{"true"}, Labels: l, Start: true})
				mu.Lock()
				ids[i] = id
				if err != nil && first == nil {
					first = err
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		for _, id := range ids {
			if id == "" {
				continue
			}
			if err := dockertest.RemoveContainer(ctx, api, id); err != nil {
				b.Error(err)
			}
		}
	})
	if first != nil {
		b.Fatal(first)
	}
	b.Logf("made %d containers in %s", n, time.Since(t0).Round(time.Millisecond))
	return ids
}
