package status

import "time"

// ScheduleState is the scheduler's memory of one schedule of a pipeline.
// Key identifies the schedule within the pipeline (for example its index
// and expression), so an edited schedule starts afresh.
type ScheduleState struct {
	Pipeline string
	Key      string
	LastFire time.Time
	NextFire time.Time
}

// Fire is one claimed schedule fire. Key is unique forever, for example
// "<pipeline>/<schedule key>/<fire time>", so a fire runs once even when
// two replicas or a restart see it.
type Fire struct {
	Key      string
	Pipeline string
	FireAt   time.Time
	RunID    string
}
