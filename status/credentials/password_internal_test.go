package credentials

import (
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// TestDummyHashes keeps the constant-time decoys honest: if a dummy did not
// parse, a login for an unknown user would return at once.
func TestDummyHashes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		hash string
		cost int
	}{{dummyHash, PasswordCost}, {dummyHashMin, bcrypt.MinCost}}
	for _, tt := range tests {
		if got, err := bcrypt.Cost([]byte(tt.hash)); err != nil || got != tt.cost {
			t.Errorf("bcrypt.Cost(%s) = %d, %v; want %d", tt.hash, got, err, tt.cost)
		}
	}
	if err := bcrypt.CompareHashAndPassword([]byte(dummyHashMin), []byte("")); err != bcrypt.ErrMismatchedHashAndPassword {
		t.Errorf("dummyHashMin compare = %v, want a mismatch", err)
	}
}
