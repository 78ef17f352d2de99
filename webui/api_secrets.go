package webui

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/fastflow-dev/fastflow/status/secrets"
)

// secretVault is what the API needs of the secrets vault (*secrets.Vault).
type secretVault interface {
	Set(ctx context.Context, name, value string) error
	List(ctx context.Context) ([]secrets.Info, error)
	Delete(ctx context.Context, name string) error
}

var _ secretVault = (*secrets.Vault)(nil)

// vault is the configured vault, or nil: a nil *Vault must not become a
// non-nil interface.
func (s *Server) vault() secretVault {
	if s.cfg.Secrets == nil {
		return nil
	}
	return s.cfg.Secrets
}

// secretInfoJSON is a secret as the API lists it: never its value.
type secretInfoJSON = secrets.Info

func (s *Server) apiListSecrets(w http.ResponseWriter, r *http.Request) {
	s.listSecrets(w, r, s.vault())
}

func (s *Server) apiPutSecret(w http.ResponseWriter, r *http.Request) {
	s.putSecret(w, r, s.vault())
}

func (s *Server) apiDeleteSecret(w http.ResponseWriter, r *http.Request) {
	s.deleteSecret(w, r, s.vault())
}

func (s *Server) listSecrets(w http.ResponseWriter, r *http.Request, v secretVault) {
	if v == nil {
		writeError(w, http.StatusServiceUnavailable, "secrets are not configured", nil)
		return
	}
	list, err := v.List(r.Context())
	if err != nil {
		s.writeSecretError(w, r, err)
		return
	}
	out := listJSON[secretInfoJSON]{Items: list}
	if out.Items == nil {
		out.Items = []secretInfoJSON{}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) putSecret(w http.ResponseWriter, r *http.Request, v secretVault) {
	if v == nil {
		writeError(w, http.StatusServiceUnavailable, "secrets are not configured", nil)
		return
	}
	key := r.PathValue("key")
	if err := secrets.ValidateName(key); err != nil {
		writeError(w, http.StatusBadRequest, "invalid secret name", err.Error())
		return
	}
	var body struct {
		Value *string `json:"value"`
	}
	if err := decodeBody(w, r, &body); err != nil {
		writeError(w, http.StatusBadRequest, "malformed request body", err.Error())
		return
	}
	if body.Value == nil {
		writeError(w, http.StatusBadRequest, "malformed request body", `want {"value": "..."}`)
		return
	}
	if err := v.Set(r.Context(), key, *body.Value); err != nil {
		s.writeSecretError(w, r, err)
		return
	}
	// The answer names the secret and never echoes its value.
	writeJSON(w, http.StatusOK, map[string]string{"name": key, "status": "stored"})
}

func (s *Server) deleteSecret(w http.ResponseWriter, r *http.Request, v secretVault) {
	if v == nil {
		writeError(w, http.StatusServiceUnavailable, "secrets are not configured", nil)
		return
	}
	key := r.PathValue("key")
	if err := secrets.ValidateName(key); err != nil {
		// No such name can exist.
		writeError(w, http.StatusNotFound, "not found", "no secret with that name")
		return
	}
	if err := v.Delete(r.Context(), key); err != nil {
		s.writeSecretError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// writeSecretError maps the vault's errors. Their texts name secrets, never
// values, so they can be shown.
func (s *Server) writeSecretError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, secrets.ErrInvalidName), errors.Is(err, secrets.ErrInvalidValue):
		writeError(w, http.StatusBadRequest, "invalid secret", err.Error())
	case errors.Is(err, secrets.ErrNotFound):
		writeError(w, http.StatusNotFound, "not found", "no secret with that name")
	case errors.Is(err, secrets.ErrNoKey):
		writeError(w, http.StatusConflict, "no encryption key", "ENCRYPTION_KEY is not set; secrets cannot be stored")
	case errors.Is(err, secrets.ErrWrongKey):
		writeError(w, http.StatusConflict, "wrong encryption key", "ENCRYPTION_KEY does not decrypt the stored secrets")
	default:
		s.writeOpError(w, r, fmt.Errorf("secrets: %w", err))
	}
}
