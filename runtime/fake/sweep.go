package fake

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/fastflow-dev/fastflow/runtime"
)

var _ runtime.Sweeper = (*Runtime)(nil)

// object is a volume or a dangling image of the fake daemon.
type object struct {
	labels  map[string]string
	created time.Time
	// inUse makes its removal fail with runtime.ErrInUse, as a container
	// using it would.
	inUse bool
}

// AddVolume creates a volume with labels, as a user or another tool on the
// host would; the operator's runs create none.
func (r *Runtime) AddVolume(name string, labels map[string]string) {
	d := r.d
	d.mu.Lock()
	defer d.mu.Unlock()
	d.volumes[name] = &object{labels: maps.Clone(labels), created: d.now()}
	d.notify()
}

// AddDanglingImage creates a dangling image with labels, as a rebuilt image
// leaves behind.
func (r *Runtime) AddDanglingImage(id string, labels map[string]string) {
	d := r.d
	d.mu.Lock()
	defer d.mu.Unlock()
	d.dangling[id] = &object{labels: maps.Clone(labels), created: d.now()}
	d.notify()
}

// SetInUse marks a volume or image (by name or ID) as used by a container,
// so that removing it fails with runtime.ErrInUse, or releases it.
func (r *Runtime) SetInUse(nameOrID string, inUse bool) {
	d := r.d
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, m := range []map[string]*object{d.volumes, d.dangling} {
		if o := m[nameOrID]; o != nil {
			o.inUse = inUse
		}
	}
	d.notify()
}

// HasVolume reports whether the volume exists.
func (r *Runtime) HasVolume(name string) bool { return r.has(r.d.volumes, name) }

// HasImage reports whether the image exists.
func (r *Runtime) HasImage(id string) bool { return r.has(r.d.dangling, id) }

func (r *Runtime) has(m map[string]*object, key string) bool {
	r.d.mu.Lock()
	defer r.d.mu.Unlock()
	return m[key] != nil
}

// Volumes returns the volumes carrying every one of labels, by name.
func (r *Runtime) Volumes(ctx context.Context, labels map[string]string) ([]runtime.Volume, error) {
	if err := r.begin(ctx, MethodVolumes, ""); err != nil {
		return nil, err
	}
	defer r.d.mu.Unlock()
	var out []runtime.Volume
	for _, name := range slices.Sorted(maps.Keys(r.d.volumes)) {
		if o := r.d.volumes[name]; hasLabels(o.labels, labels) {
			out = append(out, runtime.Volume{Name: name, Labels: maps.Clone(o.labels), InUse: o.inUse})
		}
	}
	return out, nil
}

// RemoveVolume deletes a volume; one in use stays (runtime.ErrInUse).
func (r *Runtime) RemoveVolume(ctx context.Context, name string) error {
	return r.removeObject(ctx, MethodRemoveVolume, r.d.volumes, name)
}

// DanglingImages returns the dangling images carrying every one of labels,
// by ID; with no labels, none.
func (r *Runtime) DanglingImages(ctx context.Context, labels map[string]string) ([]runtime.Image, error) {
	if err := r.begin(ctx, MethodDanglingImages, ""); err != nil {
		return nil, err
	}
	defer r.d.mu.Unlock()
	if len(labels) == 0 {
		return nil, nil
	}
	var out []runtime.Image
	for _, id := range slices.Sorted(maps.Keys(r.d.dangling)) {
		if o := r.d.dangling[id]; hasLabels(o.labels, labels) {
			out = append(out, runtime.Image{ID: id, Labels: maps.Clone(o.labels), Created: o.created, InUse: o.inUse})
		}
	}
	return out, nil
}

// RemoveImage deletes an image; one in use stays (runtime.ErrInUse).
func (r *Runtime) RemoveImage(ctx context.Context, id string) error {
	return r.removeObject(ctx, MethodRemoveImage, r.d.dangling, id)
}

func (r *Runtime) removeObject(ctx context.Context, m Method, objs map[string]*object, key string) error {
	if err := r.begin(ctx, m, key); err != nil {
		return err
	}
	d := r.d
	defer d.mu.Unlock()
	o := objs[key]
	switch {
	case o == nil:
		return nil
	case o.inUse:
		return callError(m, key, fmt.Errorf("%w: a container uses it", runtime.ErrInUse))
	}
	delete(objs, key)
	d.notify()
	return nil
}
