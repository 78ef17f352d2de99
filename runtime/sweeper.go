package runtime

import (
	"context"
	"errors"
	"time"
)

// ErrInUse: a volume a container still uses, which its engine refuses to
// remove. The janitor keeps it and tries again on its next pass.
var ErrInUse = errors.New("runtime: in use")

// Volume is a named volume as a Sweeper finds it.
type Volume struct {
	Name   string
	Labels map[string]string
	// InUse: a container (running or not) uses it, so removing it fails.
	InUse bool
}

// Image is a dangling image as a Sweeper finds it: one without a tag
// that no other image builds on.
type Image struct {
	ID      string
	Labels  map[string]string
	Created time.Time
	// InUse: a container (running or not) was made from it, so removing
	// it fails.
	InUse bool
}

// Sweeper is implemented by backends whose engine keeps objects beside run
// containers that outlive them: volumes and images. The janitor uses it
// when the Runtime has it (a type assertion); a backend without such
// objects leaves it out.
//
// Every method is safe for concurrent use. The listings select by labels,
// as Runtime.List does, so a caller that passes its LabelInstance never
// sees another installation's objects. RemoveVolume and RemoveImage are
// idempotent: an object that is gone already is not an error. A backend
// that cannot be reached returns errors wrapping ErrUnavailable.
type Sweeper interface {
	// Volumes returns the volumes carrying every one of labels.
	Volumes(ctx context.Context, labels map[string]string) ([]Volume, error)
	// RemoveVolume deletes a volume. One that a container still uses is
	// kept and the error wraps ErrInUse.
	RemoveVolume(ctx context.Context, name string) error
	// DanglingImages returns the dangling images carrying every one of
	// labels. An empty labels selects no image: pruning images that carry
	// none would reach beyond what the caller owns.
	DanglingImages(ctx context.Context, labels map[string]string) ([]Image, error)
	// RemoveImage deletes an image that no container uses; one that a
	// container uses is kept and the error wraps ErrInUse.
	RemoveImage(ctx context.Context, id string) error
}
