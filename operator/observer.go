package operator

// Observer hears what the operator's housekeeping removes, so an exporter
// can count it (operator/telemetry implements it). The operator calls it
// synchronously from its sweeps: implementations must not block.
type Observer interface {
	// Removed reports n objects of one kind removed by one component:
	// component is "retention", "janitor" or "uv_cache"; kind names the
	// object ("logs", "runs", "records", "containers", "volumes",
	// "revisions", "temp_dirs", "images", "entries").
	Removed(component, kind string, n int)
}

// The components that report removals.
const (
	ComponentRetention = "retention"
	ComponentJanitor   = "janitor"
)

// nopObserver is the Observer of an operator configured without one.
type nopObserver struct{}

func (nopObserver) Removed(string, string, int) {}
