package sqlstore

import (
	"context"
	"fmt"

	"github.com/fastflow-dev/fastflow/status"
)

// PutSecret implements status.SecretStore.
func (s *Store) PutSecret(ctx context.Context, key string, encrypted []byte) error {
	if key == "" {
		return fmt.Errorf("put secret: %w: empty key", status.ErrInvalidArgument)
	}
	if encrypted == nil {
		encrypted = []byte{}
	}
	now := s.d.timeArg(s.now())
	_, err := s.exec(ctx, `INSERT INTO secrets (name, value, created_at, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
		key, encrypted, now, now)
	if err != nil {
		return fmt.Errorf("put secret %s: %w", key, err)
	}
	return nil
}

// GetSecret implements status.SecretStore.
func (s *Store) GetSecret(ctx context.Context, key string) (status.Secret, error) {
	var sec status.Secret
	err := s.queryRow(ctx, `SELECT name, value, created_at, updated_at FROM secrets WHERE name = ?`, key).
		Scan(&sec.Key, &sec.Value, scanTime(&sec.CreatedAt), scanTime(&sec.UpdatedAt))
	if err != nil {
		return status.Secret{}, fmt.Errorf("get secret %s: %w", key, notFound(err))
	}
	return sec, nil
}

// ListSecrets implements status.SecretStore.
func (s *Store) ListSecrets(ctx context.Context) ([]status.Secret, error) {
	rows, err := s.query(ctx, `SELECT name, created_at, updated_at FROM secrets ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list secrets: %w", err)
	}
	defer rows.Close()
	var out []status.Secret
	for rows.Next() {
		var sec status.Secret
		if err := rows.Scan(&sec.Key, scanTime(&sec.CreatedAt), scanTime(&sec.UpdatedAt)); err != nil {
			return nil, fmt.Errorf("list secrets: %w", err)
		}
		out = append(out, sec)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list secrets: %w", err)
	}
	return out, nil
}

// DeleteSecret implements status.SecretStore.
func (s *Store) DeleteSecret(ctx context.Context, key string) error {
	res, err := s.exec(ctx, `DELETE FROM secrets WHERE name = ?`, key)
	if err == nil {
		err = mustAffect(res)
	}
	if err != nil {
		return fmt.Errorf("delete secret %s: %w", key, err)
	}
	return nil
}
