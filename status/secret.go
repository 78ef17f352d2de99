package status

import "time"

// Secret is a named secret. Value is ciphertext: encryption happens before
// the store, so a database dump reveals no secret.
type Secret struct {
	Key       string
	Value     []byte
	CreatedAt time.Time
	UpdatedAt time.Time
}
