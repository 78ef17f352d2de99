package webui

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/fastflow-dev/fastflow/operator"
	"github.com/fastflow-dev/fastflow/status"
)

// TestClassifyOpError: every error the operator or the store gives the
// handlers has its status code; only the unexpected is a 500.
func TestClassifyOpError(t *testing.T) {
	t.Parallel()
	wrap := func(err error) error { return fmt.Errorf("run hello: %w", err) }
	tests := []struct {
		err        error
		code       int
		retryAfter bool
	}{
		{wrap(&operator.ParamError{Fields: map[string]string{"N": "want integer"}}), http.StatusUnprocessableEntity, false},
		{wrap(&operator.EnvError{Fields: map[string]string{"PATH": "reserved"}}), http.StatusUnprocessableEntity, false},
		{wrap(operator.ErrPipelineNotFound), http.StatusNotFound, false},
		{wrap(operator.ErrRunNotFound), http.StatusNotFound, false},
		{wrap(status.ErrNotFound), http.StatusNotFound, false},
		{wrap(operator.ErrPipelineDisabled), http.StatusConflict, false},
		{wrap(operator.ErrPipelineInvalid), http.StatusConflict, false},
		{wrap(operator.ErrMissingSecret), http.StatusConflict, false},
		{wrap(operator.ErrRunNotActive), http.StatusConflict, false},
		{wrap(operator.ErrTooManyRuns), http.StatusTooManyRequests, true},
		{wrap(operator.ErrRuntimeUnavailable), http.StatusServiceUnavailable, true},
		{wrap(operator.ErrLowDisk), http.StatusServiceUnavailable, true},
		{wrap(operator.ErrNotAccepting), http.StatusServiceUnavailable, true},
		{wrap(status.ErrInvalidCursor), http.StatusBadRequest, false},
		{wrap(status.ErrInvalidArgument), http.StatusBadRequest, false},
		{wrap(context.Canceled), 0, false},
		{errors.New("disk I/O error"), http.StatusInternalServerError, false},
	}
	for _, tt := range tests {
		t.Run(tt.err.Error(), func(t *testing.T) {
			t.Parallel()
			f := classifyOpError(tt.err)
			if f.code != tt.code || (f.retryAfter != "") != tt.retryAfter {
				t.Errorf("code %d, Retry-After %q; want %d, Retry-After %v", f.code, f.retryAfter, tt.code, tt.retryAfter)
			}
		})
	}
}
