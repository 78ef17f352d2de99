package docker

import (
	"context"
	"errors"
	"fmt"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/volume"

	"github.com/fastflow-dev/fastflow/runtime"
)

var _ runtime.Sweeper = (*Client)(nil)

// labelFilters selects the objects carrying every one of labels.
func labelFilters(labels map[string]string) filters.Args {
	args := filters.NewArgs()
	for k, v := range labels {
		args.Add("label", k+"="+v)
	}
	return args
}

// Volumes returns the volumes carrying every one of labels. The daemon
// says which no container references (its "dangling" filter); the others
// are in use.
func (c *Client) Volumes(ctx context.Context, labels map[string]string) ([]runtime.Volume, error) {
	all, err := c.volumes(ctx, labelFilters(labels))
	if err != nil {
		return nil, err
	}
	unused := labelFilters(labels)
	unused.Add("dangling", "true")
	free, err := c.volumes(ctx, unused)
	if err != nil {
		return nil, err
	}
	isFree := make(map[string]bool, len(free))
	for _, v := range free {
		isFree[v.Name] = true
	}
	out := make([]runtime.Volume, 0, len(all))
	for _, v := range all {
		out = append(out, runtime.Volume{Name: v.Name, Labels: v.Labels, InUse: !isFree[v.Name]})
	}
	return out, nil
}

func (c *Client) volumes(ctx context.Context, args filters.Args) ([]*volume.Volume, error) {
	var resp volume.ListResponse
	err := c.do(ctx, "list", "volumes", func(ctx context.Context) error {
		var err error
		resp, err = c.api.VolumeList(ctx, volume.ListOptions{Filters: args})
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]*volume.Volume, 0, len(resp.Volumes))
	for _, v := range resp.Volumes {
		if v != nil {
			out = append(out, v)
		}
	}
	return out, nil
}

// RemoveVolume deletes a volume without force: one a container still uses
// (running or not) stays, and the error wraps runtime.ErrInUse.
func (c *Client) RemoveVolume(ctx context.Context, name string) error {
	err := c.do(ctx, "remove volume", name, func(ctx context.Context) error {
		return c.api.VolumeRemove(ctx, name, false)
	})
	return sweepError(err)
}

// DanglingImages returns the dangling images carrying every one of labels;
// with no labels it returns none.
func (c *Client) DanglingImages(ctx context.Context, labels map[string]string) ([]runtime.Image, error) {
	if len(labels) == 0 {
		return nil, nil
	}
	args := labelFilters(labels)
	args.Add("dangling", "true")
	var found []image.Summary
	err := c.do(ctx, "list", "images", func(ctx context.Context) error {
		var err error
		found, err = c.api.ImageList(ctx, image.ListOptions{Filters: args})
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]runtime.Image, 0, len(found))
	for _, s := range found {
		// The summary's container count is only filled for disk usage;
		// ask for one container made from the image instead.
		var users []container.Summary
		err := c.do(ctx, "list", "containers of image "+s.ID, func(ctx context.Context) error {
			var err error
			users, err = c.api.ContainerList(ctx, container.ListOptions{All: true, Limit: 1, Filters: filters.NewArgs(filters.Arg("ancestor", s.ID))})
			return err
		})
		if err != nil {
			return nil, err
		}
		out = append(out, runtime.Image{ID: s.ID, Labels: s.Labels, Created: time.Unix(s.Created, 0).UTC(), InUse: len(users) > 0})
	}
	return out, nil
}

// RemoveImage deletes an image, and its untagged parents, without force:
// an image a container uses stays, and the error wraps runtime.ErrInUse.
func (c *Client) RemoveImage(ctx context.Context, id string) error {
	err := c.do(ctx, "remove image", id, func(ctx context.Context) error {
		_, err := c.api.ImageRemove(ctx, id, image.RemoveOptions{PruneChildren: true})
		return err
	})
	return sweepError(err)
}

// sweepError maps a removal's error to the Sweeper contract: gone already
// is success, and the daemon's conflict (a container uses it) is
// runtime.ErrInUse.
func sweepError(err error) error {
	switch {
	case err == nil || errors.Is(err, runtime.ErrNotFound):
		return nil
	case cerrdefs.IsConflict(err):
		return fmt.Errorf("%w: %w", runtime.ErrInUse, err)
	}
	return err
}
