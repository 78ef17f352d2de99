package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/mount"

	"github.com/fastflow-dev/fastflow/runtime"
)

var _ runtime.Runtime = (*Client)(nil)

var (
	// ErrRunExists is returned, wrapped, by Start when a container for the
	// run ID already exists: the fixed container name makes a second start
	// of one run a conflict instead of a second container.
	ErrRunExists = errors.New("docker: a container for this run already exists")
	// ErrInvalidSpec is returned, wrapped, by Start for a RunSpec it cannot
	// turn into a container.
	ErrInvalidSpec = errors.New("docker: invalid run spec")
)

// The json-file log limits used when the spec leaves them unset: the
// operator keeps its own copy of every line, so the daemon's is only a buffer
// for re-attaching after a restart.
const (
	defaultLogMaxSize  = "10m"
	defaultLogMaxFiles = 3
)

// cleanupTimeout bounds the removal of a container that Start created but
// could not start, on a context that outlives the caller's cancellation.
const cleanupTimeout = 30 * time.Second

// ContainerName is the name of the container of a run. It is fixed so that
// creating the container twice for one run fails with a conflict.
func ContainerName(runID string) string {
	return "fastflow-" + runID
}

// Start creates and starts the container of spec.RunID, pulling the image
// when the daemon does not have it.
//
// A command that cannot be executed (not found, not executable) is not a
// Start error: Docker records exit code 127 or 126 on the container, and
// Start returns its ID so Wait reports that code and its reason like any
// other exit, and the caller classifies and removes it as usual. Any other
// failure to start removes the container again and returns an error, so an
// error from Start always means no container is left for the run.
func (c *Client) Start(ctx context.Context, spec runtime.RunSpec) (string, error) {
	if err := validate(spec); err != nil {
		return "", fmt.Errorf("start %s: %w", spec.RunID, err)
	}
	binds, err := c.binds(spec)
	if err != nil {
		return "", fmt.Errorf("start %s: %w", spec.RunID, err)
	}
	cfg, hostCfg := containerConfig(spec, binds)
	id, err := c.create(ctx, spec, cfg, hostCfg)
	if err != nil {
		return "", fmt.Errorf("start %s: %w", spec.RunID, err)
	}
	// Attached before it starts, so not a byte of output is missed.
	err = c.attach(ctx, id)
	if err == nil {
		// Starting a running container is a no-op for the daemon (304),
		// so a retry after a lost answer is safe.
		err = c.do(ctx, "start", id, func(ctx context.Context) error {
			return c.api.ContainerStart(ctx, id, container.StartOptions{})
		})
	}
	if err == nil {
		return id, nil
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	if st, ierr := c.inspect(cctx, id); ierr == nil && st.ExitCode != 0 {
		return id, nil
	}
	if rerr := c.Remove(cctx, id); rerr != nil {
		err = errors.Join(err, rerr)
	}
	return "", fmt.Errorf("start %s: %w", spec.RunID, err)
}

func validate(spec runtime.RunSpec) error {
	if err := spec.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidSpec, err)
	}
	return nil
}

// binds turns the spec's named code and caches into host folders, followed
// by its plain mounts.
func (c *Client) binds(spec runtime.RunSpec) ([]runtime.Mount, error) {
	var out []runtime.Mount
	if code := spec.Code; code != nil {
		switch {
		case c.revisionsDir == "":
			return nil, fmt.Errorf("%w: the spec names code but the client has no revisions folder", ErrInvalidSpec)
		case code.Target == "" || !validRevision.MatchString(code.Revision):
			return nil, fmt.Errorf("%w: code %q at %q", ErrInvalidSpec, code.Revision, code.Target)
		}
		out = append(out, runtime.Mount{Source: filepath.Join(c.revisionsDir, code.Revision), Target: code.Target, ReadOnly: true})
	}
	for _, cache := range spec.Caches {
		dir, ok := c.cacheDirs[cache.Name]
		if !ok || cache.Target == "" {
			return nil, fmt.Errorf("%w: no folder for cache %q", ErrInvalidSpec, cache.Name)
		}
		// A cache starts empty; a missing folder would make the bind fail.
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("cache %s: %w", cache.Name, err)
		}
		out = append(out, runtime.Mount{Source: dir, Target: cache.Target})
	}
	return append(out, spec.Mounts...), nil
}

// validRevision is a revision folder name: a commit SHA, never a path.
var validRevision = regexp.MustCompile(`^[0-9a-f]{7,64}$`)

// containerConfig maps spec, with its code, caches and mounts resolved to
// binds, onto the daemon's create request, using nothing newer than API
// 1.41.
func containerConfig(spec runtime.RunSpec, binds []runtime.Mount) (*container.Config, *container.HostConfig) {
	labels := spec.AllLabels()

	env := make([]string, 0, len(spec.Env))
	for _, k := range slices.Sorted(maps.Keys(spec.Env)) {
		env = append(env, k+"="+spec.Env[k])
	}

	// Mounts rather than Binds: a missing source directory is an error
	// instead of an empty directory the daemon creates, and paths with
	// colons or commas need no quoting.
	mounts := make([]mount.Mount, 0, len(binds))
	for _, m := range binds {
		mounts = append(mounts, mount.Mount{Type: mount.TypeBind, Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly})
	}

	maxSize, maxFiles := spec.Log.MaxSize, spec.Log.MaxFiles
	if maxSize == "" {
		maxSize = defaultLogMaxSize
	}
	if maxFiles == 0 {
		maxFiles = defaultLogMaxFiles
	}

	cfg := &container.Config{
		Image:       spec.Image,
		Cmd:         spec.Command,
		Env:         env,
		WorkingDir:  spec.WorkDir,
		Labels:      labels,
		Healthcheck: healthConfig(spec.HealthCheck),
	}
	hostCfg := &container.HostConfig{
		NetworkMode: container.NetworkMode(spec.Network),
		Mounts:      mounts,
		LogConfig: container.LogConfig{
			Type:   "json-file",
			Config: map[string]string{"max-size": maxSize, "max-file": strconv.Itoa(maxFiles)},
		},
		// The container is removed by the operator once its logs and exit
		// status are stored; auto-remove would lose both on a crash.
		AutoRemove: false,
		Resources: container.Resources{
			Memory:   spec.Limits.MemoryBytes,
			NanoCPUs: spec.Limits.NanoCPUs,
		},
	}
	if spec.Init {
		hostCfg.Init = &spec.Init
	}
	if spec.Limits.MemoryBytes > 0 {
		// Swap limited to the memory limit: the run is OOM-killed at its
		// limit instead of swapping on.
		hostCfg.MemorySwap = spec.Limits.MemoryBytes
	}
	return cfg, hostCfg
}

// create creates the run's container and returns its ID.
//
// It is retried on transient errors, but not blindly: once a request may
// have reached the daemon (the connection broke after it was sent, or the
// daemon failed halfway with a 5xx), the container may exist. The fixed name turns a
// repeated create into a conflict, and a conflict after such an attempt is
// resolved by adopting the existing container when it carries this run's
// label. A conflict on the first attempt is a second Start of the run.
func (c *Client) create(ctx context.Context, spec runtime.RunSpec, cfg *container.Config, hostCfg *container.HostConfig) (string, error) {
	name := ContainerName(spec.RunID)
	var (
		timer    *time.Timer
		pulled   bool
		mayExist bool
		delay    = c.retry.initial
	)
	for attempt := 1; ; {
		resp, err := c.api.ContainerCreate(ctx, cfg, hostCfg, nil, nil, name)
		switch {
		case err == nil:
			return resp.ID, nil
		case cerrdefs.IsConflict(err):
			if mayExist {
				if id, ok := c.adopt(ctx, name, spec.RunID); ok {
					return id, nil
				}
			}
			return "", fmt.Errorf("%w: %s: %w", ErrRunExists, name, err)
		case cerrdefs.IsNotFound(err) && !pulled:
			if perr := c.ensureImage(ctx, spec.Image, err); perr != nil {
				return "", perr
			}
			pulled = true
			continue
		case isTransient(err) && attempt < c.retry.attempts && ctx.Err() == nil:
			// Even a refused connection may hide an answer lost after the
			// daemon acted (the client reports most transport failures
			// alike), so every retried create may find its own container.
			mayExist = true
			c.log.Debug("docker create failed, retrying", "container", name, "attempt", attempt, "delay", delay, "err", err)
			if !c.sleep(ctx, &timer, delay) {
				return "", c.classify("create", name, err)
			}
			delay *= 2
			attempt++
		default:
			return "", c.classify("create", name, err)
		}
	}
}

// adopt returns the container named name when it belongs to runID.
func (c *Client) adopt(ctx context.Context, name, runID string) (string, bool) {
	var info container.InspectResponse
	err := c.do(ctx, "inspect", name, func(ctx context.Context) error {
		var err error
		info, err = c.api.ContainerInspect(ctx, name)
		return err
	})
	if err != nil || info.Config == nil || info.Config.Labels[runtime.LabelRunID] != runID {
		return "", false
	}
	c.log.Info("adopted the container a retried create had made", "container", name, "id", info.ID)
	return info.ID, true
}

// ensureImage pulls ref when the daemon does not have it. createErr is the
// not-found error of the create that brought us here: when the image is
// present after all, something else was missing (a network) and that error
// is returned.
func (c *Client) ensureImage(ctx context.Context, ref string, createErr error) error {
	err := c.do(ctx, "inspect image", ref, func(ctx context.Context) error {
		_, err := c.api.ImageInspect(ctx, ref)
		return err
	})
	switch {
	case err == nil:
		return fmt.Errorf("docker create: %w", createErr)
	case !errors.Is(err, runtime.ErrNotFound):
		return err
	}
	c.log.Info("pulling missing image", "image", ref)
	body, err := c.api.ImagePull(ctx, ref, image.PullOptions{})
	if err != nil {
		return fmt.Errorf("%w: %w", runtime.ErrImage, c.classify("pull", ref, err))
	}
	defer body.Close()
	// The pull goes on only while its progress stream is read; its errors
	// arrive inside that stream, not as the HTTP status.
	dec := json.NewDecoder(body)
	for {
		var msg struct {
			Error       string `json:"error"`
			ErrorDetail *struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if err := dec.Decode(&msg); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("%w: %w", runtime.ErrImage, c.classify("pull", ref, err))
		}
		if msg.ErrorDetail != nil && msg.ErrorDetail.Message != "" {
			msg.Error = msg.ErrorDetail.Message
		}
		if msg.Error != "" {
			return fmt.Errorf("%w: pull %s: %s", runtime.ErrImage, ref, msg.Error)
		}
	}
}
