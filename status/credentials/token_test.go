package credentials_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/fastflow-dev/fastflow/status/credentials"
)

func TestNewToken(t *testing.T) {
	t.Parallel()
	tests := []struct{ prefix string }{{credentials.APITokenPrefix}, {""}}
	for _, tt := range tests {
		seen := map[string]bool{}
		for range 50 {
			tok, hash, err := credentials.NewToken(tt.prefix)
			if err != nil {
				t.Fatalf("NewToken: %v", err)
			}
			body, ok := strings.CutPrefix(tok, tt.prefix)
			if !ok {
				t.Fatalf("token %q lacks prefix %q", tok, tt.prefix)
			}
			raw, err := base64.RawURLEncoding.DecodeString(body)
			if err != nil || len(raw) != 32 {
				t.Fatalf("token body %q: want 32 bytes of unpadded base64url (%v)", body, err)
			}
			sum := sha256.Sum256([]byte(tok))
			if want := hex.EncodeToString(sum[:]); hash != want || credentials.HashToken(tok) != want {
				t.Fatalf("hash = %s, want hex sha256 of the whole token %s", hash, want)
			}
			if seen[tok] {
				t.Fatalf("NewToken repeated %q", tok)
			}
			seen[tok] = true
		}
	}
}

func TestHashTokenDistinguishes(t *testing.T) {
	t.Parallel()
	if credentials.HashToken("ff_a") == credentials.HashToken("ff_b") {
		t.Error("different tokens hash alike")
	}
	a, b := credentials.HashToken("ff_a"), credentials.HashToken("ff_"+"a")
	if a != b {
		t.Error("HashToken is not deterministic")
	}
}
