package logs

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func TestPath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		pipeline string
		runID    string
		want     string // "" means refused
	}{
		{"plain names are joined", "hello", "0193abc-def", filepath.Join("/logs", "hello", "0193abc-def.log")},
		{"dots, dashes and underscores inside pass", "etl_v1.2-x", "r.1", filepath.Join("/logs", "etl_v1.2-x", "r.1.log")},
		{"128 characters pass", strings.Repeat("a", 128), "r", filepath.Join("/logs", strings.Repeat("a", 128), "r.log")},
		{"129 characters are refused", strings.Repeat("a", 129), "r", ""},
		{"empty pipeline is refused", "", "r", ""},
		{"empty run id is refused", "p", "", ""},
		{"dot-dot is refused", "..", "r", ""},
		{"dot-dot inside is refused", "a..b", "r", ""},
		{"run id dot-dot is refused", "p", "..", ""},
		{"slash is refused", "a/b", "r", ""},
		{"run id traversal is refused", "p", "../../etc/passwd", ""},
		{"backslash is refused", `a\b`, "r", ""},
		{"leading dot is refused", ".hidden", "r", ""},
		{"leading dash is refused", "-rf", "r", ""},
		{"space is refused", "a b", "r", ""},
		{"NUL is refused", "a\x00b", "r", ""},
		{"newline is refused", "a\n", "r", ""},
		{"non-ASCII is refused", "café", "r", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Path("/logs", tt.pipeline, tt.runID)
			if tt.want == "" {
				if !errors.Is(err, ErrBadName) {
					t.Fatalf("Path(%q, %q) = %q, %v; want ErrBadName", tt.pipeline, tt.runID, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Path(%q, %q) = %q, %v; want %q", tt.pipeline, tt.runID, got, err, tt.want)
			}
		})
	}
}
