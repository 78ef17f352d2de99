package docker_test

import (
	"context"
	"maps"
	"testing"

	"github.com/fastflow-dev/fastflow/runtime"
	"github.com/fastflow-dev/fastflow/runtime/docker/dockertest"
	"github.com/fastflow-dev/fastflow/runtime/runtimetest"
)

func TestSweeperConformance(t *testing.T) {
	c := requireProbe(t)
	api := dockertest.API(t)
	owned := func(labels map[string]string) map[string]string {
		l := testLabels()
		maps.Copy(l, labels)
		return l
	}
	runtimetest.RunSweeper(t, runtimetest.SweeperConfig{
		New: func(*testing.T) runtime.Sweeper { return c },
		CreateVolume: func(t *testing.T, name string, labels map[string]string) {
			dockertest.CreateVolume(t, api, name, labels)
		},
		CreateDanglingImage: func(t *testing.T, labels map[string]string) string {
			return dockertest.CreateDanglingImage(t, api, probeImage, owned(labels))
		},
		Use: func(t *testing.T, volume, image string) func() {
			spec := dockertest.Container{Image: probeImage, Cmd: []string{"true"}, Labels: testLabels(), Volume: volume}
			if image != "" {
				spec.Image = image
			}
			id := dockertest.MustCreateContainer(t, api, spec)
			return func() {
				if err := dockertest.RemoveContainer(context.Background(), api, id); err != nil {
					t.Error(err)
				}
			}
		},
	})
}
