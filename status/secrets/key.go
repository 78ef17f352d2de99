package secrets

import (
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/fernet/fernet-go"
)

// ParseKey reads a key in the standard Fernet format: 32 bytes in URL-safe
// base64 (44 characters with padding, as `fastflow keygen` and Python's
// Fernet.generate_key print it; the padding may be left off, and the
// standard base64 alphabet is taken too). Hex is refused. The error
// says what is wrong without echoing the key, which is itself a secret.
func ParseKey(s string) (*fernet.Key, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, ErrNoKey
	}
	var b []byte
	var err error
	// Python's Fernet also takes the standard alphabet and both paddings;
	// a key made there must work here.
	for _, enc := range []*base64.Encoding{base64.URLEncoding, base64.RawURLEncoding, base64.StdEncoding, base64.RawStdEncoding} {
		if b, err = enc.DecodeString(s); err == nil {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%w: not URL-safe base64 (%d characters; a Fernet key is 44 characters of A-Z a-z 0-9 - _ ending in =); run `fastflow keygen` for a new one", ErrInvalidKey, len(s))
	}
	var k fernet.Key
	if len(b) != len(k) {
		return nil, fmt.Errorf("%w: decodes to %d bytes, a Fernet key has %d; run `fastflow keygen` for a new one", ErrInvalidKey, len(b), len(k))
	}
	copy(k[:], b)
	return &k, nil
}

// GenerateKey returns a new random key in the standard Fernet format.
func GenerateKey() (string, error) {
	var k fernet.Key
	if err := k.Generate(); err != nil {
		return "", fmt.Errorf("generate key: %w", err)
	}
	return k.Encode(), nil
}
