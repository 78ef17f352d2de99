package operator

import (
	"testing"
	"time"
)

func TestMarkers(t *testing.T) {
	t.Parallel()
	var m markers
	lines := []struct {
		text     string
		consumed bool
	}{
		{"::fastflow::uv_version=uv 0.9.2", true},
		{"::fastflow::setup_ns=1500000000", true},
		{"::fastflow::start", true},
		{"::fastflow::uv_version=spoofed by the pipeline", false},
		{"ordinary output", false},
	}
	for _, l := range lines {
		if got := m.parseMarker(l.text); got != l.consumed {
			t.Errorf("parseMarker(%q) = %v, want %v", l.text, got, l.consumed)
		}
	}
	if m.uvVersion != "uv 0.9.2" || m.setup != 1500*time.Millisecond || m.setupFailed != "" {
		t.Errorf("markers = %+v", m)
	}
	var failed markers
	failed.parseMarker("::fastflow::setup_failed=ERROR: No matching distribution")
	if failed.setupFailed != "ERROR: No matching distribution" {
		t.Errorf("setup_failed = %q", failed.setupFailed)
	}
}
