package status_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fastflow-dev/fastflow/status"
)

func TestRunCursor(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 27, 5, 0, 1, 123456000, time.UTC)
	tests := []struct {
		name    string
		in      string
		want    status.RunCursor
		wantErr error
	}{
		{"round trip keeps an ID with a separator", status.RunCursor{QueuedAt: at, ID: "a|b"}.Encode(),
			status.RunCursor{QueuedAt: at, ID: "a|b"}, nil},
		{"not base64 is invalid", "%%%", status.RunCursor{}, status.ErrInvalidCursor},
		{"no separator is invalid", "MTIz", status.RunCursor{}, status.ErrInvalidCursor},
		{"no id is invalid", "MTIzfA", status.RunCursor{}, status.ErrInvalidCursor},
		{"text time is invalid", "YWJjfGlk", status.RunCursor{}, status.ErrInvalidCursor},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := status.DecodeRunCursor(tt.in)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error = %v, want %v", err, tt.wantErr)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("cursor mismatch (-want +got):\n%s", d)
			}
		})
	}
}

func TestRunStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		s            status.RunStatus
		valid, final bool
	}{
		{status.RunPending, true, false},
		{status.RunRunning, true, false},
		{status.RunSuccess, true, true},
		{status.RunFailed, true, true},
		{status.RunCancelled, true, true},
		{status.RunTimeout, true, true},
		{status.RunInterrupted, true, true},
		{"running", false, false},
		{"", false, false},
	}
	for _, tt := range tests {
		if tt.s.Valid() != tt.valid || tt.s.Final() != tt.final {
			t.Errorf("%q: Valid %v Final %v, want %v %v", tt.s, tt.s.Valid(), tt.s.Final(), tt.valid, tt.final)
		}
	}
}
