package schemas

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestRetention: the retention object is checked by the schema and read
// into Spec.Retention, nil fields meaning "leave the installation's".
func TestRetention(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []Violation
		runs *int
		days *int
	}{
		{name: "both rules", doc: `{"retention": {"runs": 20, "days": 30}}`, runs: ptr(20), days: ptr(30)},
		{name: "only days", doc: `{"retention": {"days": 7}}`, days: ptr(7)},
		{name: "zero turns a rule off", doc: `{"retention": {"runs": 0}}`, runs: ptr(0)},
		{name: "negative runs", doc: `{"retention": {"runs": -1}}`,
			want: []Violation{{Pointer: "/retention/runs", Message: "must be at least 0, but is -1"}}},
		{name: "unknown field", doc: `{"retention": {"weeks": 2}}`,
			want: []Violation{{Pointer: "/retention/weeks", Message: `unknown field "weeks"`}}},
		{name: "not an object", doc: `{"retention": 5}`,
			want: []Violation{{Pointer: "/retention", Message: "expected object, but got number"}}},
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
			if spec.Retention == nil {
				t.Fatal("Retention is nil")
			}
			if d := cmp.Diff(tc.runs, spec.Retention.Runs); d != "" {
				t.Errorf("Runs (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tc.days, spec.Retention.Days); d != "" {
				t.Errorf("Days (-want +got):\n%s", d)
			}
		})
	}
}

func ptr(n int) *int { return &n }
