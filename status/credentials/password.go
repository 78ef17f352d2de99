package credentials

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"
)

var (
	// ErrWeakPassword is returned for a password shorter than
	// MinPasswordLen characters.
	ErrWeakPassword = errors.New("credentials: password too short")
	// ErrPasswordTooLong is returned for a password bcrypt would silently
	// truncate (more than MaxPasswordLen bytes).
	ErrPasswordTooLong = errors.New("credentials: password too long")
	// ErrInvalidUsername is returned for a username ValidateUsername refuses.
	ErrInvalidUsername = errors.New("credentials: invalid username")
)

const (
	// PasswordCost is the bcrypt cost of HashPassword: about a quarter of a
	// second on a current server core, slow enough to make offline guessing
	// of a leaked hash expensive and fast enough for a login.
	PasswordCost = 12
	// MinPasswordLen is the shortest password accepted, in characters.
	MinPasswordLen = 8
	// MaxPasswordLen is bcrypt's input limit in bytes; longer input is
	// refused rather than truncated, so every byte typed counts.
	MaxPasswordLen = 72
	// MaxUsernameLen bounds usernames, which appear in run records.
	MaxUsernameLen = 64
)

// dummyHash and dummyHashMin are valid hashes, at PasswordCost and at
// bcrypt.MinCost, of a password nobody knows. CheckPassword compares
// against one when there is no real hash, so a login for an unknown user
// costs as long as one with a wrong password and the answer time does not
// tell which usernames exist.
const (
	dummyHash    = "$2a$12$yt6iRNbKs72tKGn7isNrIO25AvAosT732FPw8YnH1Yxy8EVPKlLGa"
	dummyHashMin = "$2a$04$KXUamn0yGD.oc0xm6S.1tOZ2SQtQHAdXwGne/D/lJWCZ6vxKLiag6"
)

// Hasher hashes passwords at a chosen bcrypt cost. The zero value uses
// PasswordCost. Production uses the package functions, which are Hasher{};
// tests that hash many passwords use Hasher{Cost: bcrypt.MinCost}, since a
// cost-12 hash takes seconds under the race detector.
type Hasher struct {
	// Cost is the bcrypt cost, bcrypt.MinCost (4) to bcrypt.MaxCost (31);
	// zero means PasswordCost.
	Cost int
}

func (h Hasher) cost() int {
	if h.Cost == 0 {
		return PasswordCost
	}
	return h.Cost
}

// HashPassword returns the bcrypt hash of pw at PasswordCost. The password
// itself never appears in an error.
func HashPassword(pw string) (string, error) { return Hasher{}.HashPassword(pw) }

// CheckPassword reports whether pw matches hash. An empty or malformed hash
// never matches, but still costs one PasswordCost bcrypt comparison:
// callers pass "" for an unknown user so that timing does not reveal which
// users exist.
func CheckPassword(hash, pw string) bool { return Hasher{}.CheckPassword(hash, pw) }

// HashPassword returns the bcrypt hash of pw at h's cost, refusing
// passwords shorter than MinPasswordLen characters or longer than
// MaxPasswordLen bytes. The password never appears in an error.
func (h Hasher) HashPassword(pw string) (string, error) {
	if n := utf8.RuneCountInString(pw); n < MinPasswordLen {
		return "", fmt.Errorf("%w: %d characters, want at least %d", ErrWeakPassword, n, MinPasswordLen)
	}
	if len(pw) > MaxPasswordLen {
		return "", fmt.Errorf("%w: %d bytes, bcrypt takes at most %d", ErrPasswordTooLong, len(pw), MaxPasswordLen)
	}
	b, err := bcrypt.GenerateFromPassword([]byte(pw), h.cost())
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(b), nil
}

// CheckPassword is the package's CheckPassword; only the cost of the
// comparison made for a missing hash follows h (a real hash carries its
// own cost).
func (h Hasher) CheckPassword(hash, pw string) bool {
	if _, err := bcrypt.Cost([]byte(hash)); err != nil {
		dummy := dummyHash
		if h.cost() < PasswordCost {
			dummy = dummyHashMin
		}
		_ = bcrypt.CompareHashAndPassword([]byte(dummy), []byte(pw))
		return false
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(pw)) == nil
}

// ValidateUsername accepts 1 to MaxUsernameLen characters of ASCII letters,
// digits and . _ - @, starting with a letter or digit: names that are safe
// in logs, URLs and run records without escaping.
func ValidateUsername(name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty", ErrInvalidUsername)
	}
	if len(name) > MaxUsernameLen {
		return fmt.Errorf("%w: longer than %d characters", ErrInvalidUsername, MaxUsernameLen)
	}
	for i, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case i > 0 && (r == '.' || r == '_' || r == '-' || r == '@'):
		default:
			return fmt.Errorf("%w: %q (use letters, digits and . _ - @, starting with a letter or digit)", ErrInvalidUsername, name)
		}
	}
	return nil
}
