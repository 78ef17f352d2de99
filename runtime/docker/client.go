package docker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"

	"github.com/docker/docker/client"

	"github.com/fastflow-dev/fastflow/runtime"
)

// ErrDaemonUnreachable is returned, wrapped, when no Docker daemon answers at
// the configured address: nothing listens there, the socket is refused, or the
// daemon did not answer before the context's deadline. Callers test for it
// with errors.Is to tell "Docker is down" from a daemon that answered with an
// error. It wraps runtime.ErrUnavailable, so callers that only know the
// runtime contract see the same condition.
var ErrDaemonUnreachable = fmt.Errorf("docker: daemon unreachable: %w", runtime.ErrUnavailable)

// Config selects the Docker daemon to talk to.
type Config struct {
	// Host is the daemon address, such as unix:///var/run/docker.sock or
	// tcp://127.0.0.1:2375. Empty means DOCKER_HOST, or the platform's
	// default socket when that is unset. TLS settings always come from
	// DOCKER_TLS_VERIFY and DOCKER_CERT_PATH, as for the docker CLI.
	Host string
	// Logger receives the retries of transient daemon errors. Nil discards.
	Logger *slog.Logger
	// RevisionsDir holds one folder per published revision
	// (DATA_DIR/revisions/<sha>); a RunSpec's Code is bind-mounted from
	// there. Empty refuses specs that name code.
	RevisionsDir string
	// CacheDirs maps each cache name a RunSpec may ask for to its host
	// folder (runtime.CacheUV: UV_CACHE_DIR).
	CacheDirs map[string]string
}

// Client is a connection to one Docker daemon. It is safe for concurrent use.
type Client struct {
	api *client.Client
	log *slog.Logger
	// retry is the backoff for transient daemon errors; tests shorten it.
	retry backoff
	// attached holds the output streams of started containers until Logs
	// takes them.
	attached attachments
	// revisionsDir and cacheDirs turn a RunSpec's named code and caches
	// into bind mounts.
	revisionsDir string
	cacheDirs    map[string]string
}

// New returns a Client for the daemon cfg selects. It does not contact the
// daemon; use Ping to find out whether one answers.
func New(cfg Config) (*Client, error) {
	opts := []client.Opt{client.FromEnv, client.WithAPIVersionNegotiation()}
	if cfg.Host != "" {
		// After FromEnv, so an explicit host wins over DOCKER_HOST.
		opts = append(opts, client.WithHost(cfg.Host))
	}
	api, err := client.NewClientWithOpts(opts...)
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Client{api: api, log: log, retry: defaultBackoff, revisionsDir: cfg.RevisionsDir, cacheDirs: maps.Clone(cfg.CacheDirs)}, nil
}

// Host returns the address of the daemon the client talks to.
func (c *Client) Host() string {
	return c.api.DaemonHost()
}

// Ping asks the daemon whether it is up. The error wraps ErrDaemonUnreachable
// when no daemon answers; bound the wait with ctx, since a daemon that accepts
// connections but hangs is only noticed by the deadline.
func (c *Client) Ping(ctx context.Context) error {
	if _, err := c.api.Ping(ctx); err != nil {
		return c.wrap("ping", err)
	}
	return nil
}

// Version describes the daemon the client talks to.
type Version struct {
	// Server is the engine's version, such as "20.10.24+dfsg1".
	Server string
	// API is the API version the client and the daemon agreed on, such as
	// "1.41".
	API string
}

// Version returns the daemon's version and the negotiated API version.
func (c *Client) Version(ctx context.Context) (Version, error) {
	v, err := c.api.ServerVersion(ctx)
	if err != nil {
		return Version{}, c.wrap("version", err)
	}
	return Version{Server: v.Version, API: c.api.ClientVersion()}, nil
}

// Close releases the client's idle connections.
func (c *Client) Close() error {
	if err := c.api.Close(); err != nil {
		return fmt.Errorf("close docker client: %w", err)
	}
	return nil
}

// wrap adds the daemon's address to err and marks the failures that mean no
// daemon answered with ErrDaemonUnreachable, keeping the cause inspectable.
// A cancelled context is the caller giving up, not the daemon being down, so
// it is left unmarked.
func (c *Client) wrap(op string, err error) error {
	if client.IsErrConnectionFailed(err) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: %s %s: %w", ErrDaemonUnreachable, op, c.Host(), err)
	}
	return fmt.Errorf("docker %s %s: %w", op, c.Host(), err)
}
