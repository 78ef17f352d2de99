package operator

import (
	"time"

	"github.com/fastflow-dev/fastflow/schemas"
)

// Policy is the timeout and retry behaviour the operator applies to a
// pipeline: its pipeline.json values, else the server's defaults
// (CONTAINER_TIMEOUT, RETRY_ATTEMPTS, the retry delay). The web UI shows
// these, so what a page says is what a run gets.
type Policy struct {
	// Timeout is 0 for none.
	Timeout       time.Duration
	RetryAttempts int
	// RetryDelay is the wait before the first retry; it doubles per attempt.
	RetryDelay time.Duration
	// StallTimeout is how long a run may write nothing; 0 for no check.
	StallTimeout time.Duration
	// The *Default fields report a value that came from the server's
	// configuration, not from pipeline.json.
	TimeoutDefault, RetryAttemptsDefault, StallTimeoutDefault bool
}

// PolicyFor resolves spec's timeout, stall timeout and retries against the
// defaults.
func (o *Operator) PolicyFor(spec schemas.Spec) Policy {
	p := policyFor(spec, o.cfg.ContainerTimeout, o.cfg.RetryAttempts, o.cfg.RetryDelay)
	p.StallTimeout, p.StallTimeoutDefault = o.cfg.StallTimeout, true
	if spec.StallTimeout != nil {
		p.StallTimeout, p.StallTimeoutDefault = time.Duration(*spec.StallTimeout)*time.Second, false
	}
	return p
}

func policyFor(spec schemas.Spec, timeout time.Duration, attempts int, delay time.Duration) Policy {
	p := Policy{Timeout: timeout, RetryAttempts: attempts, RetryDelay: delay, TimeoutDefault: true, RetryAttemptsDefault: true}
	if spec.Timeout > 0 {
		p.Timeout, p.TimeoutDefault = time.Duration(spec.Timeout)*time.Second, false
	}
	if spec.RetryAttempts != nil {
		p.RetryAttempts, p.RetryAttemptsDefault = *spec.RetryAttempts, false
	}
	if spec.RetryDelay != nil {
		p.RetryDelay = time.Duration(*spec.RetryDelay) * time.Second
	}
	return p
}
