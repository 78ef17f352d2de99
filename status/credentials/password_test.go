package credentials_test

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/fastflow-dev/fastflow/status/credentials"
)

func TestHashPasswordUsesProductionCost(t *testing.T) {
	t.Parallel()
	h, err := credentials.HashPassword("correct horse battery")
	if err != nil {
		t.Fatalf("HashPassword: %v", err)
	}
	if cost, err := bcrypt.Cost([]byte(h)); err != nil || cost != credentials.PasswordCost {
		t.Errorf("cost = %d, %v; want %d", cost, err, credentials.PasswordCost)
	}
	if strings.Contains(h, "correct horse") {
		t.Errorf("hash contains the password: %s", h)
	}
	if !credentials.CheckPassword(h, "correct horse battery") {
		t.Error("CheckPassword refuses the right password")
	}
}

func TestCheckPassword(t *testing.T) {
	t.Parallel()
	const pw = "s3cret-passw0rd"
	fast := credentials.Hasher{Cost: bcrypt.MinCost}
	h, err := fast.HashPassword(pw)
	if err != nil {
		t.Fatalf("HashPassword: %v", err)
	}
	tests := []struct {
		name, hash, pw string
		want           bool
	}{
		{"right password", h, pw, true},
		{"wrong password", h, pw + "x", false},
		{"prefix of the password", h, pw[:len(pw)-1], false},
		{"empty password", h, "", false},
		{"no hash (unknown user)", "", pw, false},
		{"malformed hash", "not-a-bcrypt-hash", pw, false},
		{"hash given as password", h, h, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := fast.CheckPassword(tt.hash, tt.pw); got != tt.want {
				t.Errorf("CheckPassword = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestHashPasswordRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, pw string
		want     error
	}{
		{"empty", "", credentials.ErrWeakPassword},
		{"seven characters", "1234567", credentials.ErrWeakPassword},
		{"seven runes in more bytes", "ääääääa", credentials.ErrWeakPassword},
		{"eight characters", "12345678", nil},
		{"72 bytes", strings.Repeat("a", 72), nil},
		{"73 bytes would be truncated", strings.Repeat("a", 73), credentials.ErrPasswordTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := credentials.Hasher{Cost: bcrypt.MinCost}.HashPassword(tt.pw)
			if !errors.Is(err, tt.want) {
				t.Fatalf("HashPassword = %v, want %v", err, tt.want)
			}
			if err != nil && len(tt.pw) > 0 && strings.Contains(err.Error(), tt.pw) {
				t.Errorf("error echoes the password: %v", err)
			}
		})
	}
}

func TestValidateUsername(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ok   bool
	}{
		{"admin", true},
		{"jane.doe@example.com", true},
		{"a_b-c9", true},
		{"7", true},
		{"", false},
		{".hidden", false},
		{"-flag", false},
		{"with space", false},
		{"slash/y", false},
		{"Jörg", false},
		{strings.Repeat("a", credentials.MaxUsernameLen), true},
		{strings.Repeat("a", credentials.MaxUsernameLen+1), false},
	}
	for _, tt := range tests {
		err := credentials.ValidateUsername(tt.name)
		if (err == nil) != tt.ok {
			t.Errorf("ValidateUsername(%q) = %v, want ok=%v", tt.name, err, tt.ok)
		}
		if err != nil && !errors.Is(err, credentials.ErrInvalidUsername) {
			t.Errorf("ValidateUsername(%q) = %v, want ErrInvalidUsername", tt.name, err)
		}
	}
}
