package checks

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-github/v62/github"
)

func TestLogTextFence(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		lines     []string
		wantFence string
		wantLen   int // upper bound on the text
	}{
		{"plain log uses three backticks", []string{"hello"}, "```", 100},
		{"a log with a fence gets a longer one", []string{"```", "x ````` y"}, "``````", 100},
		{"a huge line is cut to GitHub's limit", []string{strings.Repeat("é", maxOutputChars)}, "```", maxOutputChars},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := logText(tt.lines)
			if len(got) > tt.wantLen {
				t.Errorf("len = %d, want at most %d", len(got), tt.wantLen)
			}
			if !strings.HasSuffix(got, "\n"+tt.wantFence+"\n") || !strings.Contains(got, ":\n\n"+tt.wantFence+"\n") {
				t.Errorf("text not fenced by %q:\n%.200s", tt.wantFence, got)
			}
		})
	}
}

func ghError(code int, header map[string]string) error {
	resp := &http.Response{StatusCode: code, Header: http.Header{}, Request: &http.Request{Method: "POST"}}
	for k, v := range header {
		resp.Header.Set(k, v)
	}
	return &github.ErrorResponse{Response: resp}
}

func TestClassify(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	tests := []struct {
		name     string
		err      error
		attempts int
		want     verdict
	}{
		{"network error backs off", errors.New("connection refused"), 1, verdict{retry: true, delay: time.Second}},
		{"backoff doubles", errors.New("reset"), 3, verdict{retry: true, delay: 4 * time.Second}},
		{"backoff is capped", errors.New("reset"), 40, verdict{retry: true, delay: time.Minute}},
		{"500 backs off", ghError(500, nil), 2, verdict{retry: true, delay: 2 * time.Second}},
		{"503 with Retry-After waits that long", ghError(503, map[string]string{"Retry-After": "7"}), 1, verdict{retry: true, delay: 7 * time.Second}},
		{"429 with Retry-After pauses everyone", ghError(429, map[string]string{"Retry-After": "30"}), 1,
			verdict{retry: true, delay: 30 * time.Second, rateLimited: true}},
		{"429 with a reset waits for it", ghError(429, map[string]string{"X-RateLimit-Reset": "1800000090"}), 1,
			verdict{retry: true, delay: 90 * time.Second, rateLimited: true}},
		{"429 without headers waits a minute", ghError(429, nil), 1, verdict{retry: true, delay: time.Minute, rateLimited: true}},
		{"403 with exhausted quota waits for the reset", ghError(403, map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1800000600"}), 1,
			verdict{retry: true, delay: 10 * time.Minute, rateLimited: true}},
		{"403 secondary limit is retried", &github.AbuseRateLimitError{Response: &http.Response{StatusCode: 403, Header: http.Header{}}}, 1,
			verdict{retry: true, delay: time.Minute, rateLimited: true}},
		{"403 with quota left is permanent", ghError(403, map[string]string{"X-RateLimit-Remaining": "4999", "X-RateLimit-Reset": "1800000600"}), 1, verdict{}},
		{"422 is permanent", ghError(422, nil), 1, verdict{}},
		{"wrapped 404 is permanent", errors.Join(errors.New("create"), ghError(404, nil)), 1, verdict{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := classify(tt.err, tt.attempts, now, time.Second, time.Minute); got != tt.want {
				t.Errorf("classify = %+v, want %+v", got, tt.want)
			}
		})
	}
}
