package operator

import (
	"testing"
	"time"

	"github.com/fastflow-dev/fastflow/schemas"
)

func TestPolicyFor(t *testing.T) {
	t.Parallel()
	intp := func(i int) *int { return &i }
	const defTimeout, defAttempts, defDelay = time.Hour, 2, 10 * time.Second
	tests := []struct {
		name string
		spec schemas.Spec
		want Policy
	}{
		{"nothing set: the server's defaults", schemas.Spec{},
			Policy{Timeout: time.Hour, RetryAttempts: 2, RetryDelay: 10 * time.Second, TimeoutDefault: true, RetryAttemptsDefault: true}},
		{"everything set", schemas.Spec{Timeout: 90, RetryAttempts: intp(5), RetryDelay: intp(3)},
			Policy{Timeout: 90 * time.Second, RetryAttempts: 5, RetryDelay: 3 * time.Second}},
		{"retries turned off with zero", schemas.Spec{RetryAttempts: intp(0)},
			Policy{Timeout: time.Hour, RetryAttempts: 0, RetryDelay: 10 * time.Second, TimeoutDefault: true}},
		{"a zero delay is the pipeline's, not the default", schemas.Spec{RetryDelay: intp(0)},
			Policy{Timeout: time.Hour, RetryAttempts: 2, TimeoutDefault: true, RetryAttemptsDefault: true}},
	}
	for _, tt := range tests {
		if got := policyFor(tt.spec, defTimeout, defAttempts, defDelay); got != tt.want {
			t.Errorf("%s: got %+v, want %+v", tt.name, got, tt.want)
		}
	}
}
