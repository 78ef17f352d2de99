package schemas

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestStallTimeout: stall_timeout takes whole seconds as timeout does, 0
// turning the check off for the pipeline, and is read into
// Spec.StallTimeout, nil meaning "leave STALL_TIMEOUT".
func TestStallTimeout(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []Violation
		val  *int
	}{
		{name: "seconds", doc: `{"stall_timeout": 900}`, val: ptr(900)},
		{name: "zero turns the check off", doc: `{"stall_timeout": 0}`, val: ptr(0)},
		{name: "unset leaves STALL_TIMEOUT", doc: `{}`},
		{name: "negative", doc: `{"stall_timeout": -1}`,
			want: []Violation{{Pointer: "/stall_timeout", Message: "must be at least 0, but is -1"}}},
		{name: "a duration string is not seconds", doc: `{"stall_timeout": "15m"}`,
			want: []Violation{{Pointer: "/stall_timeout", Message: "expected integer, but got string"}}},
		{name: "fractional seconds", doc: `{"stall_timeout": 1.5}`,
			want: []Violation{{Pointer: "/stall_timeout", Message: "expected integer, but got number"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec, got := mustValidator(t).Check([]byte(tc.doc))
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Fatalf("violations (-want +got):\n%s", d)
			}
			if tc.want != nil {
				return
			}
			if d := cmp.Diff(tc.val, spec.StallTimeout); d != "" {
				t.Errorf("StallTimeout (-want +got):\n%s", d)
			}
		})
	}
}
