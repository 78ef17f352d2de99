package status

import "time"

// Pipeline is what the store remembers about a pipeline across revisions:
// its requirements and uv cache state, and its run counters.
type Pipeline struct {
	Name             string
	HasRequirements  bool
	RequirementsHash string
	LastCacheWarmup  time.Time
	// CacheStatus is free text owned by the pre-heater (for example
	// "warm", "failed"); CacheOutput is the tail of its output.
	CacheStatus string
	CacheOutput string

	TotalRuns      int64
	SuccessfulRuns int64
	FailedRuns     int64
	// CancelledRuns and InterruptedRuns count the runs the operator or a
	// user stopped; they are not in TotalRuns (see IncrementCounters).
	CancelledRuns   int64
	InterruptedRuns int64
	CountersResetAt time.Time
}
