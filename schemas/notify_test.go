package schemas

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestNotify: the notify list is checked by the schema and the semantic
// rules, and read into Spec.Notify with its defaults.
func TestNotify(t *testing.T) {
	tests := []struct {
		name    string
		doc     string
		want    []Violation
		targets []NotifyTarget
		events  [][]NotifyEvent
		formats []NotifyFormat
	}{
		{name: "defaults", doc: `{"notify": [{"secret": "SLACK_URL"}]}`,
			targets: []NotifyTarget{{Secret: "SLACK_URL"}},
			events:  [][]NotifyEvent{{EventFailure, EventRecovery}}, formats: []NotifyFormat{FormatSlack}},
		{name: "json with signing", doc: `{"notify": [{"secret": "HOOK", "on": ["success", "timeout"], "format": "json", "signing_secret": "HOOK_KEY"}]}`,
			targets: []NotifyTarget{{Secret: "HOOK", On: []NotifyEvent{EventSuccess, EventTimeout}, Format: FormatJSON, SigningSecret: "HOOK_KEY"}},
			events:  [][]NotifyEvent{{EventSuccess, EventTimeout}}, formats: []NotifyFormat{FormatJSON}},
		{name: "json needs a signing secret", doc: `{"notify": [{"secret": "HOOK", "format": "json"}]}`,
			want: []Violation{{Pointer: "/notify/0", Message: `missing required field "signing_secret"`}}},
		{name: "unknown event", doc: `{"notify": [{"secret": "HOOK", "on": ["failed"]}]}`,
			want: []Violation{{Pointer: "/notify/0/on/0", Message: `value must be one of "failure", "recovery", "success", "timeout"`}}},
		{name: "no events", doc: `{"notify": [{"secret": "HOOK", "on": []}]}`,
			want: []Violation{{Pointer: "/notify/0/on", Message: "minimum 1 items required, but found 0 items"}}},
		{name: "no secret", doc: `{"notify": [{"format": "slack"}]}`,
			want: []Violation{{Pointer: "/notify/0", Message: `missing required field "secret"`}}},
		{name: "a URL instead of a secret name", doc: `{"notify": [{"secret": "https://hooks.example/x"}]}`,
			want: []Violation{{Pointer: "/notify/0/secret", Message: `must be a valid environment variable name: letters, digits and "_", not starting with a digit`}}},
		{name: "unknown field", doc: `{"notify": [{"secret": "HOOK", "url": "x"}]}`,
			want: []Violation{{Pointer: "/notify/0/url", Message: `unknown field "url"`}}},
		{name: "same secret twice", doc: `{"notify": [{"secret": "HOOK"}, {"secret": "HOOK", "on": ["success"]}]}`,
			want: []Violation{{Pointer: "/notify/1/secret", Message: "names the secret HOOK of /notify/0 again; each target is one webhook, notified once per run"}}},
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
			if d := cmp.Diff(tc.targets, spec.Notify); d != "" {
				t.Errorf("Notify (-want +got):\n%s", d)
			}
			for i, n := range spec.Notify {
				if d := cmp.Diff(tc.events[i], n.Events()); d != "" {
					t.Errorf("target %d events (-want +got):\n%s", i, d)
				}
				if n.BodyFormat() != tc.formats[i] {
					t.Errorf("target %d format = %s, want %s", i, n.BodyFormat(), tc.formats[i])
				}
			}
		})
	}
}
