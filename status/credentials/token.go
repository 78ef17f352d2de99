package credentials

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
)

const (
	// APITokenPrefix starts every API token, so a leaked one is easy to
	// recognise (secret scanners, logs) and to tell from a session token.
	APITokenPrefix = "ff_"
	// tokenBytes is the randomness of a token: 256 bits, beyond guessing.
	tokenBytes = 32
)

// NewToken returns a new random token, prefix followed by 32 random bytes
// in unpadded base64url, and its HashToken. The token is shown to its owner
// once; only the hash is stored.
func NewToken(prefix string) (token, hash string, err error) {
	b := make([]byte, tokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("new token: %w", err)
	}
	token = prefix + base64.RawURLEncoding.EncodeToString(b)
	return token, HashToken(token), nil
}

// HashToken returns the hex SHA-256 of token, the form the store keeps and
// looks tokens up by.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// randomPassword returns a password of 24 base64url characters (144 bits).
func randomPassword() (string, error) {
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate password: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
