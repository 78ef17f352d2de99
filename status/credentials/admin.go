package credentials

import (
	"context"
	"errors"
	"fmt"

	"github.com/fastflow-dev/fastflow/status"
)

// DefaultAdminUsername is the first user's name when ADMIN_USERNAME is unset.
const DefaultAdminUsername = "admin"

// EnsureAdmin creates the first user on the first start: when the store has
// no user at all, it adds username (DefaultAdminUsername when empty) with
// password. When password is empty it generates one and returns it, and the
// caller prints it once; otherwise generated is empty.
//
// Once any user exists EnsureAdmin does nothing, so changing ADMIN_PASSWORD
// later never resets a password someone changed with `fastflow user passwd`.
// Two replicas starting at once are safe: the loser of the race sees
// status.ErrConflict and returns without a password.
func EnsureAdmin(ctx context.Context, store status.AuthStore, username, password string) (generated string, err error) {
	return Hasher{}.EnsureAdmin(ctx, store, username, password)
}

// EnsureAdmin is the package's EnsureAdmin hashing at h's cost.
func (h Hasher) EnsureAdmin(ctx context.Context, store status.AuthStore, username, password string) (generated string, err error) {
	if username == "" {
		username = DefaultAdminUsername
	}
	if err := ValidateUsername(username); err != nil {
		return "", fmt.Errorf("admin user: %w", err)
	}
	users, err := store.ListUsers(ctx)
	if err != nil {
		return "", fmt.Errorf("admin user: %w", err)
	}
	if len(users) > 0 {
		return "", nil
	}
	if password == "" {
		if generated, err = randomPassword(); err != nil {
			return "", fmt.Errorf("admin user: %w", err)
		}
		password = generated
	}
	hash, err := h.HashPassword(password)
	if err != nil {
		return "", fmt.Errorf("admin user %s: %w", username, err)
	}
	if _, err := store.CreateUser(ctx, username, hash); err != nil {
		if errors.Is(err, status.ErrConflict) {
			return "", nil
		}
		return "", fmt.Errorf("admin user %s: %w", username, err)
	}
	return generated, nil
}
