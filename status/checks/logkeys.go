package checks

// Log attribute keys, kept in one place so log queries stay stable.
const (
	logKeyRepo      = "repo"
	logKeyRun       = "run"
	logKeyPipeline  = "pipeline"
	logKeyStatus    = "status"
	logKeyReport    = "report"
	logKeyKind      = "kind"
	logKeyAttempt   = "attempt"
	logKeyAge       = "age"
	logKeyDelay     = "retry_in"
	logKeyError     = "err"
	logKeyCount     = "count"
	logKeyQueueSize = "queue_size"
)
