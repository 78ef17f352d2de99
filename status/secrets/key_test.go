package secrets_test

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/fernet/fernet-go"

	"github.com/fastflow-dev/fastflow/status/secrets"
	"github.com/fastflow-dev/fastflow/status/sqlstore"
)

func TestGenerateKeyIsStandardFernet(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 3 {
		k, err := secrets.GenerateKey()
		if err != nil {
			t.Fatalf("GenerateKey: %v", err)
		}
		// Standard Fernet: 32 bytes, URL-safe base64 with padding.
		b, err := base64.URLEncoding.DecodeString(k)
		if err != nil || len(b) != 32 || len(k) != 44 {
			t.Errorf("GenerateKey() = %q: want 44 characters of URL-safe base64 for 32 bytes", k)
		}
		if seen[k] {
			t.Errorf("GenerateKey repeated %q", k)
		}
		seen[k] = true
		if _, err := secrets.ParseKey(k); err != nil {
			t.Errorf("ParseKey(GenerateKey()) = %v", err)
		}
	}
}

func TestParseKey(t *testing.T) {
	t.Parallel()
	raw := make([]byte, 32)
	for i := range raw {
		raw[i] = byte(250 - i) // high bytes give '-' and '_' in base64url
	}
	std := base64.URLEncoding.EncodeToString(raw)
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"standard", std, nil},
		{"surrounding whitespace from a .env file", " " + std + "\n", nil},
		{"without padding", strings.TrimRight(std, "="), nil},
		{"empty", "", secrets.ErrNoKey},
		{"too short", std[:20], secrets.ErrInvalidKey},
		{"16 bytes", base64.URLEncoding.EncodeToString(raw[:16]), secrets.ErrInvalidKey},
		{"standard base64 alphabet, as Python takes it", base64.StdEncoding.EncodeToString(raw), nil},
		{"hex", hex.EncodeToString(raw), secrets.ErrInvalidKey},
		{"garbage", "not a key at all!", secrets.ErrInvalidKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			k, err := secrets.ParseKey(tt.in)
			if !errors.Is(err, tt.want) {
				t.Fatalf("ParseKey = %v, want %v", err, tt.want)
			}
			if err != nil {
				if len(tt.in) > 8 && strings.Contains(err.Error(), strings.TrimSpace(tt.in)) {
					t.Errorf("error echoes the key: %v", err)
				}
				if tt.want == secrets.ErrInvalidKey && !strings.Contains(err.Error(), "keygen") {
					t.Errorf("error does not point to keygen: %v", err)
				}
				return
			}
			if *k != fernet.Key(raw) {
				t.Errorf("ParseKey decoded %x, want %x", k[:], raw)
			}
		})
	}
}

func TestNewRefusesMalformedKey(t *testing.T) {
	t.Parallel()
	store, err := sqlstore.Open(t.Context(), sqlstore.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() {
		if err := store.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	// New checks the key before it touches the store, so it needs no
	// migration.
	if _, err := secrets.New(store, "abc"); !errors.Is(err, secrets.ErrInvalidKey) {
		t.Errorf("New with a malformed key = %v, want ErrInvalidKey", err)
	}
	if _, err := secrets.New(nil, ""); err == nil {
		t.Error("New without a store succeeded")
	}
}
