package sqlstore

import (
	"context"
	"fmt"

	"github.com/fastflow-dev/fastflow/status"
)

// CreateUser implements status.AuthStore.
func (s *Store) CreateUser(ctx context.Context, username, passwordHash string) (status.User, error) {
	if username == "" || passwordHash == "" {
		return status.User{}, fmt.Errorf("create user: %w: empty username or password hash", status.ErrInvalidArgument)
	}
	now := s.now()
	u := status.User{Username: username, PasswordHash: passwordHash, CreatedAt: normTime(now), UpdatedAt: normTime(now)}
	err := s.writeRow(ctx, `INSERT INTO users (username, password_hash, created_at, updated_at)
		VALUES (?, ?, ?, ?) RETURNING id`,
		username, passwordHash, s.d.timeArg(now), s.d.timeArg(now)).Scan(&u.ID)
	if err != nil {
		return status.User{}, fmt.Errorf("create user %s: %w", username, classify(err))
	}
	return u, nil
}

const userColumns = `id, username, password_hash, created_at, updated_at`

func scanUser(row rowScanner) (status.User, error) {
	var u status.User
	err := row.Scan(&u.ID, &u.Username, &u.PasswordHash, scanTime(&u.CreatedAt), scanTime(&u.UpdatedAt))
	return u, err
}

// GetUser implements status.AuthStore.
func (s *Store) GetUser(ctx context.Context, username string) (status.User, error) {
	u, err := scanUser(s.queryRow(ctx, `SELECT `+userColumns+` FROM users WHERE username = ?`, username))
	if err != nil {
		return status.User{}, fmt.Errorf("get user %s: %w", username, notFound(err))
	}
	return u, nil
}

// ListUsers implements status.AuthStore.
func (s *Store) ListUsers(ctx context.Context) ([]status.User, error) {
	rows, err := s.query(ctx, `SELECT `+userColumns+` FROM users ORDER BY username`)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	var out []status.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("list users: %w", err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return out, nil
}

// SetPassword implements status.AuthStore.
func (s *Store) SetPassword(ctx context.Context, username, passwordHash string) error {
	if passwordHash == "" {
		return fmt.Errorf("set password: %w: empty password hash", status.ErrInvalidArgument)
	}
	res, err := s.exec(ctx, `UPDATE users SET password_hash = ?, updated_at = ? WHERE username = ?`,
		passwordHash, s.d.timeArg(s.now()), username)
	if err == nil {
		err = mustAffect(res)
	}
	if err != nil {
		return fmt.Errorf("set password of %s: %w", username, err)
	}
	return nil
}

// CreateSession implements status.AuthStore.
func (s *Store) CreateSession(ctx context.Context, sess status.Session) error {
	if sess.TokenHash == "" || sess.ExpiresAt.IsZero() {
		return fmt.Errorf("create session: %w: empty token hash or expiry", status.ErrInvalidArgument)
	}
	created := sess.CreatedAt
	if created.IsZero() {
		created = s.now()
	}
	_, err := s.exec(ctx, `INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)`,
		sess.TokenHash, sess.UserID, s.d.timeArg(created), s.d.timeArg(sess.ExpiresAt))
	if err != nil {
		return fmt.Errorf("create session for user %d: %w", sess.UserID, err)
	}
	return nil
}

// GetSession implements status.AuthStore.
func (s *Store) GetSession(ctx context.Context, tokenHash string) (status.Session, error) {
	var sess status.Session
	err := s.queryRow(ctx, `SELECT s.token_hash, s.user_id, u.username, s.created_at, s.expires_at
		FROM sessions s JOIN users u ON u.id = s.user_id
		WHERE s.token_hash = ? AND s.expires_at > ?`, tokenHash, s.d.timeArg(s.now())).
		Scan(&sess.TokenHash, &sess.UserID, &sess.Username, scanTime(&sess.CreatedAt), scanTime(&sess.ExpiresAt))
	if err != nil {
		// The token hash stays out of the message: it is a credential.
		return status.Session{}, fmt.Errorf("get session: %w", notFound(err))
	}
	return sess, nil
}

// DeleteSession implements status.AuthStore.
func (s *Store) DeleteSession(ctx context.Context, tokenHash string) error {
	if _, err := s.exec(ctx, `DELETE FROM sessions WHERE token_hash = ?`, tokenHash); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// DeleteExpiredSessions implements status.AuthStore.
func (s *Store) DeleteExpiredSessions(ctx context.Context) (int64, error) {
	res, err := s.exec(ctx, `DELETE FROM sessions WHERE expires_at <= ?`, s.d.timeArg(s.now()))
	if err != nil {
		return 0, fmt.Errorf("delete expired sessions: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("delete expired sessions: %w", err)
	}
	return n, nil
}

// CreateAPIToken implements status.AuthStore.
func (s *Store) CreateAPIToken(ctx context.Context, t status.APIToken) (status.APIToken, error) {
	if t.Hash == "" {
		return status.APIToken{}, fmt.Errorf("create api token: %w: empty hash", status.ErrInvalidArgument)
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = s.now()
	}
	t.CreatedAt, t.RevokedAt = normTime(t.CreatedAt), normTime(t.RevokedAt)
	err := s.writeRow(ctx, `INSERT INTO api_tokens (token_hash, name, user_id, created_at, revoked_at)
		VALUES (?, ?, ?, ?, ?) RETURNING id`,
		t.Hash, t.Name, t.UserID, s.d.timeArg(t.CreatedAt), s.d.timeArg(t.RevokedAt)).Scan(&t.ID)
	if err != nil {
		return status.APIToken{}, fmt.Errorf("create api token %q: %w", t.Name, classify(err))
	}
	return t, nil
}

const tokenQuery = `SELECT t.id, t.token_hash, t.name, t.user_id, u.username, t.created_at, t.revoked_at
	FROM api_tokens t JOIN users u ON u.id = t.user_id`

func scanToken(row rowScanner) (status.APIToken, error) {
	var t status.APIToken
	err := row.Scan(&t.ID, &t.Hash, &t.Name, &t.UserID, &t.Username, scanTime(&t.CreatedAt), scanTime(&t.RevokedAt))
	return t, err
}

// GetAPIToken implements status.AuthStore.
func (s *Store) GetAPIToken(ctx context.Context, hash string) (status.APIToken, error) {
	t, err := scanToken(s.queryRow(ctx, tokenQuery+` WHERE t.token_hash = ? AND t.revoked_at IS NULL`, hash))
	if err != nil {
		return status.APIToken{}, fmt.Errorf("get api token: %w", notFound(err))
	}
	return t, nil
}

// ListAPITokens implements status.AuthStore.
func (s *Store) ListAPITokens(ctx context.Context) ([]status.APIToken, error) {
	rows, err := s.query(ctx, tokenQuery+` ORDER BY t.id`)
	if err != nil {
		return nil, fmt.Errorf("list api tokens: %w", err)
	}
	defer rows.Close()
	var out []status.APIToken
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("list api tokens: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list api tokens: %w", err)
	}
	return out, nil
}

// RevokeAPIToken implements status.AuthStore.
func (s *Store) RevokeAPIToken(ctx context.Context, id int64) error {
	res, err := s.exec(ctx, `UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?`,
		s.d.timeArg(s.now()), id)
	if err == nil {
		err = mustAffect(res)
	}
	if err != nil {
		return fmt.Errorf("revoke api token %d: %w", id, err)
	}
	return nil
}
