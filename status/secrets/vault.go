package secrets

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/fernet/fernet-go"

	"github.com/fastflow-dev/fastflow/status"
)

var (
	// ErrNoKey is returned when a secret must be encrypted or decrypted but
	// no ENCRYPTION_KEY is set.
	ErrNoKey = errors.New("secrets: ENCRYPTION_KEY is not set; run `fastflow keygen` and set ENCRYPTION_KEY to the key it prints")
	// ErrInvalidKey is returned for a key that is not in the Fernet format.
	ErrInvalidKey = errors.New("secrets: ENCRYPTION_KEY is not a valid Fernet key")
	// ErrWrongKey is returned when ENCRYPTION_KEY does not decrypt a stored
	// secret: the key changed since the secrets were stored, or the rows
	// were damaged.
	ErrWrongKey = errors.New("secrets: ENCRYPTION_KEY does not decrypt the stored secrets")
	// ErrMissing is returned by Secrets when a requested secret does not
	// exist; the message names every missing one. A run is refused with it.
	ErrMissing = errors.New("secrets: secret missing")
	// ErrNotFound is returned by Delete for a secret that does not exist. It
	// wraps status.ErrNotFound so generic not-found handling applies too.
	ErrNotFound = fmt.Errorf("secrets: secret not found: %w", status.ErrNotFound)
	// ErrInvalidName is returned for a name that is not an environment
	// variable name.
	ErrInvalidName = errors.New("secrets: invalid secret name")
	// ErrInvalidValue is returned for an empty or oversized value.
	ErrInvalidValue = errors.New("secrets: invalid secret value")
)

const (
	// MaxNameLen matches the schema's limit on env var names.
	MaxNameLen = 128
	// MaxValueLen bounds a value: secrets travel as environment variables,
	// and Linux caps one env string at 128 KiB.
	MaxValueLen = 64 << 10
)

// nameRE is the schema's env_name: secrets become environment variables.
var nameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// ValidateName reports whether name can be a secret: an environment
// variable name of at most MaxNameLen characters.
func ValidateName(name string) error {
	if len(name) > MaxNameLen {
		return fmt.Errorf("%w: longer than %d characters", ErrInvalidName, MaxNameLen)
	}
	if !nameRE.MatchString(name) {
		return fmt.Errorf("%w: %q (want an environment variable name: a letter or _, then letters, digits or _)", ErrInvalidName, name)
	}
	return nil
}

// Info describes a stored secret without its value.
type Info struct {
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Vault encrypts secrets into a status.SecretStore and decrypts them.
//
// All methods are safe for concurrent use; a Vault holds no state beyond
// its key and store. It is made once at start, then Check is called so a
// wrong key fails the start.
type Vault struct {
	store status.SecretStore
	key   *fernet.Key // nil: no ENCRYPTION_KEY, nothing can be stored
}

// New returns a Vault over store with key in the Fernet format. An empty
// key is allowed: secrets can then be listed and deleted but not stored
// or read (ErrNoKey), and Check fails only if secrets are already stored.
func New(store status.SecretStore, key string) (*Vault, error) {
	if store == nil {
		return nil, errors.New("secrets: store is required")
	}
	v := &Vault{store: store}
	if strings.TrimSpace(key) == "" {
		return v, nil
	}
	k, err := ParseKey(key)
	if err != nil {
		return nil, err
	}
	v.key = k
	return v, nil
}

// HasKey reports whether the vault was given a key, so callers can tell
// users up front that secrets cannot be stored.
func (v *Vault) HasKey() bool { return v.key != nil }

// Check decrypts every stored secret and fails with ErrWrongKey, naming
// the secrets that do not decrypt, or with ErrNoKey when secrets are stored
// but no key is set. No secrets stored is fine with or without a key.
// Call it at start: a wrong key must stop the start, not the first run.
func (v *Vault) Check(ctx context.Context) error {
	list, err := v.store.ListSecrets(ctx)
	if err != nil {
		return fmt.Errorf("check secrets: %w", err)
	}
	if len(list) == 0 {
		return nil
	}
	if v.key == nil {
		return fmt.Errorf("%w (%d secrets are stored)", ErrNoKey, len(list))
	}
	var bad []string
	for _, s := range list {
		sec, err := v.store.GetSecret(ctx, s.Key)
		if errors.Is(err, status.ErrNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return fmt.Errorf("check secrets: %w", err)
		}
		if _, ok := v.decrypt(sec.Value); !ok {
			bad = append(bad, s.Key)
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%w: cannot decrypt %s (set the key they were stored with, or remove them with `fastflow secret rm NAME`)", ErrWrongKey, strings.Join(bad, ", "))
	}
	return nil
}

// Set encrypts value and stores it under name, replacing any previous
// value. It first checks that the key decrypts the secrets already
// stored, so one store never mixes secrets of two keys.
func (v *Vault) Set(ctx context.Context, name, value string) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	if value == "" {
		return fmt.Errorf("%w: %s: empty value", ErrInvalidValue, name)
	}
	if len(value) > MaxValueLen {
		return fmt.Errorf("%w: %s: %d bytes, at most %d", ErrInvalidValue, name, len(value), MaxValueLen)
	}
	if v.key == nil {
		return fmt.Errorf("set secret %s: %w", name, ErrNoKey)
	}
	if err := v.Check(ctx); err != nil {
		return fmt.Errorf("set secret %s: %w", name, err)
	}
	tok, err := fernet.EncryptAndSign([]byte(value), v.key)
	if err != nil {
		return fmt.Errorf("set secret %s: encrypt: %w", name, err)
	}
	if err := v.store.PutSecret(ctx, name, tok); err != nil {
		return fmt.Errorf("set secret %s: %w", name, err)
	}
	return nil
}

// List returns every stored secret's name and dates, ordered by name. It
// needs no key and never reads a value.
func (v *Vault) List(ctx context.Context) ([]Info, error) {
	list, err := v.store.ListSecrets(ctx)
	if err != nil {
		return nil, fmt.Errorf("list secrets: %w", err)
	}
	out := make([]Info, 0, len(list))
	for _, s := range list {
		out = append(out, Info{Name: s.Key, CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt})
	}
	return out, nil
}

// Delete removes a secret (ErrNotFound). It needs no key, so secrets
// stored under a lost key can still be cleaned up.
func (v *Vault) Delete(ctx context.Context, name string) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	if err := v.store.DeleteSecret(ctx, name); err != nil {
		if errors.Is(err, status.ErrNotFound) {
			return fmt.Errorf("%w: %s", ErrNotFound, name)
		}
		return fmt.Errorf("delete secret %s: %w", name, err)
	}
	return nil
}

// Secrets returns the value of every name, for one run; it has the shape
// of operator.SecretSource. Names that do not exist (an invalid name can
// never exist) fail the whole call with ErrMissing naming all of them;
// a value the key does not decrypt fails it with ErrWrongKey.
func (v *Vault) Secrets(ctx context.Context, names []string) (map[string]string, error) {
	out := make(map[string]string, len(names))
	var missing, bad []string
	for _, name := range names {
		if _, seen := out[name]; seen || slices.Contains(missing, name) || slices.Contains(bad, name) {
			continue
		}
		if ValidateName(name) != nil {
			missing = append(missing, name)
			continue
		}
		sec, err := v.store.GetSecret(ctx, name)
		if errors.Is(err, status.ErrNotFound) {
			missing = append(missing, name)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read secret %s: %w", name, err)
		}
		if v.key == nil {
			return nil, fmt.Errorf("read secret %s: %w", name, ErrNoKey)
		}
		val, ok := v.decrypt(sec.Value)
		if !ok {
			bad = append(bad, name)
			continue
		}
		out[name] = val
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w: %s (set with `fastflow secret set NAME`)", ErrMissing, strings.Join(missing, ", "))
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("%w: cannot decrypt %s", ErrWrongKey, strings.Join(bad, ", "))
	}
	return out, nil
}

// decrypt opens a Fernet token with the vault's key. Tokens never expire
// (ttl 0): a secret is valid until replaced.
func (v *Vault) decrypt(tok []byte) (string, bool) {
	if v.key == nil {
		return "", false
	}
	msg := fernet.VerifyAndDecrypt(tok, 0, []*fernet.Key{v.key})
	if msg == nil {
		return "", false
	}
	return string(msg), true
}
