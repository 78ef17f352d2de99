package dockertest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
)

// objectTimeout bounds each call the object helpers make.
const objectTimeout = time.Minute

// API returns a plain Docker API client, for tests that make objects the
// runtime never makes itself (volumes, images, containers without its
// labels), after RequireDocker. It is closed when the test ends.
func API(t testing.TB) *client.Client {
	t.Helper()
	RequireDocker(t)
	api, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatalf("docker API client: %v", err)
	}
	t.Cleanup(func() { _ = api.Close() })
	return api
}

func helperCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), objectTimeout)
}

// CreateVolume makes a volume with labels, removed when t ends unless it
// is gone by then.
func CreateVolume(t testing.TB, api *client.Client, name string, labels map[string]string) {
	t.Helper()
	ctx, cancel := helperCtx()
	defer cancel()
	if _, err := api.VolumeCreate(ctx, volume.CreateOptions{Name: name, Labels: labels}); err != nil {
		t.Fatalf("create volume %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := helperCtx()
		defer cancel()
		if err := api.VolumeRemove(ctx, name, true); err != nil && !cerrdefs.IsNotFound(err) {
			t.Errorf("remove volume %s: %v", name, err)
		}
	})
}

// CreateDanglingImage commits a container of base into an untagged image
// that carries labels (and base's own), and returns its ID. The image is
// removed when t ends unless it is gone by then.
func CreateDanglingImage(t testing.TB, api *client.Client, base string, labels map[string]string) string {
	t.Helper()
	var changes []string
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		changes = append(changes, "LABEL "+k+"="+strconv.Quote(labels[k]))
	}
	return CommitImage(t, api, base, "", changes...)
}

// CommitImage commits a container of base into an image tagged ref (""
// leaves it untagged) with changes, Dockerfile instructions such as
// "HEALTHCHECK --interval=1s CMD true", and returns its ID: an image made
// without a build or a registry. It is removed when t ends unless it is
// gone by then.
func CommitImage(t testing.TB, api *client.Client, base, ref string, changes ...string) string {
	t.Helper()
	ctx, cancel := helperCtx()
	defer cancel()
	ctr, err := api.ContainerCreate(ctx, &container.Config{Image: base, Cmd: []string{"true"}}, &container.HostConfig{NetworkMode: "none"}, nil, nil, "")
	if err != nil {
		t.Fatalf("create container to commit: %v", err)
	}
	defer func() {
		if err := api.ContainerRemove(ctx, ctr.ID, container.RemoveOptions{Force: true}); err != nil {
			t.Errorf("remove committed container: %v", err)
		}
	}()
	resp, err := api.ContainerCommit(ctx, ctr.ID, container.CommitOptions{Reference: ref, Changes: changes})
	if err != nil {
		t.Fatalf("commit image: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := helperCtx()
		defer cancel()
		if _, err := api.ImageRemove(ctx, resp.ID, image.RemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
			t.Errorf("remove image %s: %v", resp.ID, err)
		}
	})
	return resp.ID
}

// Container is a container a test makes directly through the API.
type Container struct {
	Image  string
	Cmd    []string
	Labels map[string]string
	// Volume, when set, is mounted at /data.
	Volume string
	// Start starts it; else it stays created.
	Start bool
}

// CreateContainer makes c (NetworkMode none) and returns its ID; the
// caller removes it (RemoveContainer). It takes no testing.TB so that a
// benchmark can make many at once.
func CreateContainer(ctx context.Context, api *client.Client, c Container) (string, error) {
	host := &container.HostConfig{NetworkMode: "none"}
	if c.Volume != "" {
		host.Mounts = []mount.Mount{{Type: mount.TypeVolume, Source: c.Volume, Target: "/data"}}
	}
	resp, err := api.ContainerCreate(ctx, &container.Config{Image: c.Image, Cmd: c.Cmd, Labels: c.Labels}, host, nil, nil, "")
	if err != nil {
		return "", fmt.Errorf("create container: %w", err)
	}
	if c.Start {
		if err := api.ContainerStart(ctx, resp.ID, container.StartOptions{}); err != nil {
			return resp.ID, fmt.Errorf("start container %s: %w", shortID(resp.ID), err)
		}
	}
	return resp.ID, nil
}

// RemoveContainer force-removes a container; one that is gone is fine.
func RemoveContainer(ctx context.Context, api *client.Client, id string) error {
	err := api.ContainerRemove(ctx, id, container.RemoveOptions{Force: true})
	if err != nil && !cerrdefs.IsNotFound(err) && !isRemovalInProgress(err) {
		return fmt.Errorf("remove container %s: %w", shortID(id), err)
	}
	return nil
}

func isRemovalInProgress(err error) bool {
	return cerrdefs.IsConflict(err) && strings.Contains(err.Error(), "already in progress")
}

// MustCreateContainer is CreateContainer for a test: it fails t on an
// error and removes the container when t ends.
func MustCreateContainer(t testing.TB, api *client.Client, c Container) string {
	t.Helper()
	ctx, cancel := helperCtx()
	defer cancel()
	id, err := CreateContainer(ctx, api, c)
	if id != "" {
		t.Cleanup(func() {
			ctx, cancel := helperCtx()
			defer cancel()
			if err := RemoveContainer(ctx, api, id); err != nil {
				t.Error(err)
			}
		})
	}
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// The kinds of object Exists looks for.
const (
	KindContainer = "container"
	KindVolume    = "volume"
	KindImage     = "image"
)

// Exists reports whether the object of kind named id is still there.
func Exists(t testing.TB, api *client.Client, kind, id string) bool {
	t.Helper()
	ctx, cancel := helperCtx()
	defer cancel()
	var err error
	switch kind {
	case KindContainer:
		_, err = api.ContainerInspect(ctx, id)
	case KindVolume:
		_, err = api.VolumeInspect(ctx, id)
	case KindImage:
		_, err = api.ImageInspect(ctx, id)
	default:
		t.Fatalf("dockertest: unknown kind %q", kind)
	}
	if cerrdefs.IsNotFound(err) {
		return false
	}
	if err != nil {
		t.Fatalf("inspect %s %s: %v", kind, shortID(id), err)
	}
	return true
}
