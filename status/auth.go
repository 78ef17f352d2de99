package status

import "time"

// User is a person who can log in to the web UI.
type User struct {
	ID           int64
	Username     string
	PasswordHash string
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Session is a login session. Only the hash of the cookie's token is kept.
// Username is filled on reads.
type Session struct {
	TokenHash string
	UserID    int64
	Username  string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// APIToken is a bearer token for the API. Only its hash is kept. Username
// is filled on reads; a zero RevokedAt means the token is live.
type APIToken struct {
	ID        int64
	Hash      string
	Name      string
	UserID    int64
	Username  string
	CreatedAt time.Time
	RevokedAt time.Time
}
