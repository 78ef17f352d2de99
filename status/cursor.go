package status

import (
	"encoding/base64"
	"strconv"
	"strings"
	"time"
)

// RunCursor is the position after which a run listing continues: the sort
// key (QueuedAt, ID) of the last run of the previous page. Implementations
// share it so a cursor means the same to every store.
type RunCursor struct {
	QueuedAt time.Time
	ID       string
}

// Encode returns the opaque form handed to API clients: base64url of the
// Unix microseconds and the ID.
func (c RunCursor) Encode() string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(c.QueuedAt.UnixMicro(), 10) + "|" + c.ID))
}

// DecodeRunCursor parses what Encode made; anything else is
// ErrInvalidCursor.
func DecodeRunCursor(s string) (RunCursor, error) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return RunCursor{}, ErrInvalidCursor
	}
	micros, id, ok := strings.Cut(string(raw), "|")
	if !ok || id == "" {
		return RunCursor{}, ErrInvalidCursor
	}
	us, err := strconv.ParseInt(micros, 10, 64)
	if err != nil || us <= 0 {
		return RunCursor{}, ErrInvalidCursor
	}
	return RunCursor{QueuedAt: time.UnixMicro(us).UTC(), ID: id}, nil
}
