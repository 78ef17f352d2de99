package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/fastflow-dev/fastflow/runtime"
)

var _ runtime.Runtime = (*Client)(nil)

var (
	// ErrAPIUnreachable is returned, wrapped, when the API server does not
	// answer. It wraps runtime.ErrUnavailable.
	ErrAPIUnreachable = fmt.Errorf("kubernetes: API server unreachable: %w", runtime.ErrUnavailable)
	// ErrRunExists is returned, wrapped, by Start when the run's Job exists.
	ErrRunExists = errors.New("kubernetes: a Job for this run already exists")
	// ErrInvalidSpec is returned, wrapped, by Start for a RunSpec it cannot
	// turn into a Job.
	ErrInvalidSpec = errors.New("kubernetes: invalid run spec")
)

// Defaults of Config.
const (
	DefaultNamespace       = "default"
	DefaultTTLAfterFinish  = 24 * time.Hour
	DefaultScheduleTimeout = 5 * time.Minute
)

// Config selects the cluster and says how runs are placed on it.
type Config struct {
	// Kubeconfig is the path of a kubeconfig file; empty means the pod's
	// in-cluster service account. REST, when set, wins over both.
	Kubeconfig string
	REST       *rest.Config
	// Namespace holds the runs' Jobs (default "default").
	Namespace string
	// TTLAfterFinished lets the cluster delete a finished Job the operator
	// never removed (default 24h; negative: never).
	TTLAfterFinished time.Duration
	// ScheduleTimeout is how long a pod may stay unschedulable before the
	// run ends with the scheduler's reason (default 5m).
	ScheduleTimeout time.Duration
	// RevisionsDir holds one folder per published revision
	// (DATA_DIR/revisions/<sha>); the files of a RunSpec's Code are read
	// from <sha>/<pipeline> there into a ConfigMap. Empty refuses specs
	// that name code.
	RevisionsDir string
	// CachePVCs maps a cache name (runtime.CacheUV) to the
	// PersistentVolumeClaim mounted for it; a cache without one is an
	// emptyDir, empty on every run.
	CachePVCs map[string]string
	// MergedStreams reads a pod's output as one stream, for clusters
	// without the PodLogsQuerySplitStreams feature; every line is then
	// reported as stdout.
	MergedStreams bool
	// Logger receives retries and recoveries. Nil discards.
	Logger *slog.Logger
}

// Client runs Jobs on one cluster. It is safe for concurrent use.
type Client struct {
	api       kubernetes.Interface
	host      string
	ns        string
	ttl       time.Duration
	schedule  time.Duration
	pvcs      map[string]string
	revisions string
	merged    bool
	log       *slog.Logger
	logRetry  time.Duration
	statEvery time.Duration
}

// New returns a Client for the cluster cfg selects. It does not contact the
// API server; Ping does.
func New(cfg Config) (*Client, error) {
	rc := cfg.REST
	if rc == nil {
		var err error
		if cfg.Kubeconfig != "" {
			rc, err = clientcmd.BuildConfigFromFlags("", cfg.Kubeconfig)
		} else {
			rc, err = rest.InClusterConfig()
		}
		if err != nil {
			return nil, fmt.Errorf("kubernetes client config: %w", err)
		}
	}
	rc = rest.CopyConfig(rc)
	// Log streams and watches stay open for a run's life; the defaults
	// (5 queries a second) would throttle a busy operator.
	if rc.QPS == 0 {
		rc.QPS, rc.Burst = 50, 100
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	rc.Wrap(func(next http.RoundTripper) http.RoundTripper {
		return &retrying{next: next, log: log, attempts: 4, initial: 100 * time.Millisecond}
	})
	api, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	c := &Client{
		api: api, host: rc.Host, ns: cfg.Namespace, ttl: cfg.TTLAfterFinished, schedule: cfg.ScheduleTimeout,
		pvcs: maps.Clone(cfg.CachePVCs), revisions: cfg.RevisionsDir, merged: cfg.MergedStreams, log: log,
		logRetry: 250 * time.Millisecond, statEvery: time.Second,
	}
	if c.ns == "" {
		c.ns = DefaultNamespace
	}
	if c.ttl == 0 {
		c.ttl = DefaultTTLAfterFinish
	}
	if c.schedule <= 0 {
		c.schedule = DefaultScheduleTimeout
	}
	return c, nil
}

// Namespace is where the client's Jobs live.
func (c *Client) Namespace() string { return c.ns }

// Ping asks the API server whether it is ready.
func (c *Client) Ping(ctx context.Context) error {
	_, err := c.api.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	if err != nil {
		return c.wrap("ping", "", err)
	}
	return nil
}

// Close releases nothing the client holds on its own: client-go keeps no
// connection that outlives a request, and every stream is closed by its
// owner.
func (c *Client) Close() error { return nil }

// wrap adds the operation and the object to err and marks the failures that
// mean no API server answered, and objects that are not there.
func (c *Client) wrap(op, name string, err error) error {
	var netErr net.Error
	switch {
	case apierrors.IsNotFound(err):
		return fmt.Errorf("kubernetes %s %s: %w: %w", op, name, runtime.ErrNotFound, err)
	case errors.As(err, &netErr), errors.Is(err, context.DeadlineExceeded) && !apierrors.IsTimeout(err),
		apierrors.IsServiceUnavailable(err):
		return fmt.Errorf("%w: %s %s at %s: %w", ErrAPIUnreachable, op, name, c.host, err)
	}
	return fmt.Errorf("kubernetes %s %s: %w", op, name, err)
}

// isTransient says whether a failed request may succeed when repeated: the
// connection failed, or the server was briefly unable to answer.
func isTransient(err error) bool {
	var netErr net.Error
	return errors.As(err, &netErr) || apierrors.IsServiceUnavailable(err) || apierrors.IsTooManyRequests(err) ||
		apierrors.IsServerTimeout(err) || apierrors.IsTimeout(err) || apierrors.IsInternalError(err) ||
		apierrors.IsUnexpectedServerError(err)
}

// retrying repeats the requests that are safe to repeat (every method but
// POST: a GET, a DELETE, a merge PATCH or a PUT with its resource version
// does no harm twice) when the API server could not be reached or answered
// with a passing server error (500, 502, 503, 504), waiting initial, then
// twice as long each time. A create is not repeated: it may have been made.
// Only the request is repeated, never a stream already answered.
type retrying struct {
	next     http.RoundTripper
	log      *slog.Logger
	attempts int
	initial  time.Duration
}

func (r *retrying) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodPost || (req.Body != nil && req.GetBody == nil) {
		return r.next.RoundTrip(req)
	}
	delay := r.initial
	for attempt := 1; ; attempt++ {
		resp, err := r.next.RoundTrip(req)
		passing := err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
		if err == nil {
			switch resp.StatusCode {
			case http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
				passing = true
			}
		}
		if !passing || attempt >= r.attempts || req.Context().Err() != nil {
			return resp, err
		}
		if resp != nil {
			_ = resp.Body.Close()
		}
		r.log.Debug("kubernetes request failed, retrying", "method", req.Method, "url", req.URL.Path, "attempt", attempt, "delay", delay, "err", err)
		t := time.NewTimer(delay)
		select {
		case <-req.Context().Done():
			t.Stop()
			return nil, req.Context().Err()
		case <-t.C:
		}
		delay *= 2
		if req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				return nil, fmt.Errorf("replay request body: %w", err)
			}
			req = req.Clone(req.Context())
			req.Body = body
		}
	}
}
