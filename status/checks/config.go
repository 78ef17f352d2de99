package checks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"
)

// Defaults for the optional Config fields.
const (
	DefaultAPIURL    = "https://api.github.com/"
	DefaultMaxAge    = 10 * time.Minute
	DefaultQueueSize = 1000

	defaultMinBackoff   = time.Second
	defaultMaxBackoff   = 2 * time.Minute
	defaultDrainTimeout = 5 * time.Second
	requestTimeout      = 30 * time.Second
)

// Config configures a Reporter. Owner, Repo and Token are required.
type Config struct {
	// Owner and Repo name the GitHub repository the pipelines come from.
	Owner string
	Repo  string
	// APIURL is the REST API root, as in repo.GitHubAppConfig: empty for
	// api.github.com, https://ghe.example.com/api/v3 for GitHub Enterprise,
	// or a test server.
	APIURL string
	// Token returns an installation token; it is called before every request
	// so a renewed token is picked up (repo.GitHubApp.Token caches it).
	Token func(ctx context.Context) (string, error)
	// BaseURL is Fast-Flow's public URL; a run's check run links to
	// BaseURL/runs/<id>. Empty leaves details_url out.
	BaseURL string
	// HTTPClient carries the API requests; nil means a client with a 30 s
	// timeout.
	HTTPClient *http.Client
	// Logger receives one line per dropped report; nil discards.
	Logger *slog.Logger
	// MaxAge bounds how long a report may wait for delivery: older ones are
	// dropped. Zero means DefaultMaxAge.
	MaxAge time.Duration
	// QueueSize bounds the reports waiting for delivery; when it is full the
	// oldest is dropped. Zero means DefaultQueueSize.
	QueueSize int
}

// Validate reports the first problem with cfg.
func (c Config) Validate() error {
	if c.Owner == "" || c.Repo == "" {
		return errors.New("checks: the repository owner and name are required")
	}
	if c.Token == nil {
		return errors.New("checks: a token source is required (the GitHub App installation token)")
	}
	if c.APIURL != "" {
		if err := checkHTTPURL(c.APIURL); err != nil {
			return fmt.Errorf("checks: API URL: %w", err)
		}
	}
	if c.BaseURL != "" {
		if err := checkHTTPURL(c.BaseURL); err != nil {
			return fmt.Errorf("checks: BASE_URL: %w", err)
		}
	}
	if c.MaxAge < 0 {
		return fmt.Errorf("checks: MaxAge must not be negative, got %s", c.MaxAge)
	}
	if c.QueueSize < 0 {
		return fmt.Errorf("checks: QueueSize must not be negative, got %d", c.QueueSize)
	}
	return nil
}

func checkHTTPURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("parse %q: %w", s, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an absolute http(s) URL", s)
	}
	return nil
}

// Clock is the Reporter's time source: it stamps reports, judges their age
// and waits out backoff. Tests replace it to run retries in virtual time.
type Clock interface {
	Now() time.Time
	// NewTimer returns a channel that receives once d has passed and a stop
	// function with the semantics of time.Timer.Stop.
	NewTimer(d time.Duration) (<-chan time.Time, func() bool)
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) NewTimer(d time.Duration) (<-chan time.Time, func() bool) {
	t := time.NewTimer(d)
	return t.C, t.Stop
}

// Option tunes a Reporter beyond Config; the defaults suit production.
type Option func(*Reporter)

// WithClock replaces the wall clock.
func WithClock(c Clock) Option { return func(r *Reporter) { r.clock = c } }

// WithBackoff sets the first retry delay and its cap (defaults 1 s and
// 2 min); each further failure of a report doubles the delay.
func WithBackoff(initial, maxDelay time.Duration) Option {
	return func(r *Reporter) { r.minBackoff, r.maxBackoff = initial, maxDelay }
}

// WithDrainTimeout bounds how long Run keeps delivering after its context
// ends (default 5 s), so shutdown is never held up by GitHub.
func WithDrainTimeout(d time.Duration) Option { return func(r *Reporter) { r.drainTimeout = d } }
