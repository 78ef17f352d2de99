package runtime

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"time"
)

// The labels every run container carries. Reconciliation after a restart
// finds runs by them, and the janitor removes only what carries them.
const (
	LabelRunID    = "fastflow-run-id"
	LabelPipeline = "fastflow-pipeline"
	LabelRevision = "fastflow-revision"
	// LabelKind tells run containers from pre-heat containers ("run", "preheat").
	LabelKind = "fastflow-kind"
	// LabelInstance names the Fast-Flow installation that owns a container,
	// so two installations sharing one Docker host (staging and production,
	// a test suite and a demo) never reconcile away each other's runs.
	LabelInstance = "fastflow-instance"
)

var (
	// ErrNotFound: no container for the run (never started, or removed).
	ErrNotFound = errors.New("runtime: container not found")
	// ErrUnavailable: the backend does not answer (Docker daemon down). New
	// runs are refused with it; callers map it to 503.
	ErrUnavailable = errors.New("runtime: backend unavailable")
	// ErrImage: the image is missing and could not be pulled.
	ErrImage = errors.New("runtime: image not available")
)

// RunSpec is everything a backend needs to start one run.
type RunSpec struct {
	RunID    string
	Pipeline string
	Revision string
	// Kind is the LabelKind value: "run" or "preheat".
	Kind    string
	Image   string
	Command []string
	WorkDir string
	Env     map[string]string
	// Secrets names the Env entries whose values are secrets. A backend
	// whose container spec is an object others can read keeps those
	// values out of it (Kubernetes: a per-run Secret owned by the Job);
	// Docker passes them as the rest of Env.
	Secrets []string
	// Code is the pipeline code the run executes, named rather than given
	// as a host path, so each backend delivers it its own way (the Docker
	// backend bind-mounts its revisions folder). Nil: no code.
	Code *Code
	// Caches are shared caches the backend keeps between runs (the uv
	// cache), also named rather than given as host paths.
	Caches []Cache
	// Mounts bind further host directories, for site setup next to the
	// workers (a wheelhouse). Backends without host paths refuse them.
	Mounts []Mount
	// Labels are added to the backend's own (LabelRunID, LabelPipeline,
	// LabelRevision, LabelKind), which always win.
	Labels  map[string]string
	Limits  Limits
	Network string // "" means the backend's default; "none" isolates
	Log     LogLimits
	// Deadline is the run's timeout, for backends that can enforce one
	// of their own as a safety net should the operator be gone when it
	// runs out (Kubernetes: activeDeadlineSeconds, with a margin so the
	// operator's own stop comes first); 0 is none.
	Deadline time.Duration
	// Init runs a minimal init as PID 1 that forwards signals and reaps
	// zombies. Without it the pipeline's interpreter is PID 1, which the
	// kernel shields from SIGTERM, so a cancel or timeout would always wait
	// out the whole grace period and end in SIGKILL.
	Init bool
	// HealthCheck replaces the image's own health check; nil keeps the
	// image's (none when it defines none). Backends without a
	// HealthReporter refuse it.
	HealthCheck *HealthCheck
}

// Code is the pipelines repository at one revision, which the run sees
// read-only at Target (its working directory is Target/<Pipeline>).
// Revision is the full commit SHA the repository syncer published.
type Code struct {
	Revision string
	Pipeline string
	Target   string
}

// The caches backends keep for runs.
const (
	// CacheUV is uv's download and wheel cache, shared by runs and
	// warm-ups so a warm-up's installs are found by the next run.
	CacheUV = "uv"
)

// Cache is a named cache mounted read-write at Target.
type Cache struct {
	Name   string
	Target string
}

// Validate checks what every backend needs of a spec before it asks its
// engine: a run ID usable in a container or object name, an image, no
// negative limits, mounts with both ends. Backends add their own checks
// (what their code and caches map to) and wrap the error in their own
// sentinel.
func (s RunSpec) Validate() error {
	switch {
	case s.RunID == "":
		return errors.New("empty run ID")
	case !validRunID.MatchString(s.RunID):
		return fmt.Errorf("run ID %q is not usable in a container name", s.RunID)
	case s.Image == "":
		return errors.New("empty image")
	case s.Limits.MemoryBytes < 0 || s.Limits.NanoCPUs < 0:
		return errors.New("negative limit")
	case s.Log.MaxFiles < 0:
		return errors.New("negative log file count")
	}
	if err := s.HealthCheck.validate(); err != nil {
		return err
	}
	for _, m := range s.Mounts {
		if m.Source == "" || m.Target == "" {
			return fmt.Errorf("mount %q -> %q needs a source and a target", m.Source, m.Target)
		}
	}
	return nil
}

// AllLabels returns the labels of the spec's container: the spec's own,
// then the runtime's (LabelRunID, LabelPipeline, LabelRevision,
// LabelKind), set last so a spec label cannot disguise the run.
func (s RunSpec) AllLabels() map[string]string {
	labels := make(map[string]string, len(s.Labels)+4)
	maps.Copy(labels, s.Labels)
	labels[LabelRunID] = s.RunID
	labels[LabelPipeline] = s.Pipeline
	labels[LabelRevision] = s.Revision
	labels[LabelKind] = s.Kind
	return labels
}

// validRunID is what Docker accepts after the "fastflow-" of a container
// name (letters, digits, _ . -).
var validRunID = regexp.MustCompile(`^[a-zA-Z0-9_.-]+$`)

// Mount binds a host directory into the container.
type Mount struct {
	Source   string
	Target   string
	ReadOnly bool
}

// Limits are hard limits; zero means unlimited.
type Limits struct {
	NanoCPUs    int64
	MemoryBytes int64 // swap is limited to the same value: no swapping
}

// LogLimits bound what the backend itself keeps of a run's output, beside
// the operator's own log file (Docker's json-file max-size / max-file).
type LogLimits struct {
	MaxSize  string // e.g. "10m"
	MaxFiles int
}

// State is where a run's container is in its life.
type State string

// The container states a backend reports.
const (
	StateCreated State = "created"
	StateRunning State = "running"
	StateExited  State = "exited"
)

// Container is a run container as List finds it.
type Container struct {
	ID       string
	RunID    string
	Pipeline string
	Revision string
	Kind     string
	State    State
	Labels   map[string]string
	// Exit is set when State is StateExited.
	Exit *ExitStatus
}

// ContainerOf returns the Container with id whose run fields are read from
// its labels; State and Exit are left to the backend.
func ContainerOf(id string, labels map[string]string) Container {
	return Container{
		ID:       id,
		RunID:    labels[LabelRunID],
		Pipeline: labels[LabelPipeline],
		Revision: labels[LabelRevision],
		Kind:     labels[LabelKind],
		Labels:   labels,
	}
}

// ExitStatus is how a container ended.
type ExitStatus struct {
	Code      int
	OOMKilled bool
	// Error is the backend's own error text, e.g. when the command could
	// not be started at all.
	Error      string
	FinishedAt time.Time
}

// LogLine is one line of output. Time is the backend's stored timestamp of
// the line, which Since compares with, except on a stream that follows a
// container from its start: a backend may deliver that one live and stamp
// each line on arrival (the Docker backend attaches to the container
// because its followed log stream loses lines across log rotations).
// Arrival times are a little later than stored ones, so a consumer that
// resumes with Since after a restart aligns on the last stored line's
// content, not on its time alone.
type LogLine struct {
	Time   time.Time
	Stream string // "stdout" or "stderr"
	Text   string // without the trailing newline
}

// LogStream yields lines until the container's output ends (io.EOF), ctx ends,
// or Close is called.
type LogStream interface {
	Next() (LogLine, error)
	Close() error
}

// LogOptions select which lines Logs yields.
type LogOptions struct {
	// Since yields only lines at or after this time (zero: from the start).
	// Lines exactly at Since are included; the caller drops duplicates.
	Since time.Time
	// Follow keeps the stream open while the container runs.
	Follow bool
}

// Sample is one raw resource reading. CPU figures are cumulative
// nanoseconds, so consumers compute a percentage from two samples.
type Sample struct {
	Time             time.Time
	CPUTotalNs       uint64 // container CPU time used, all cores
	SystemCPUNs      uint64 // host CPU time elapsed, all cores
	OnlineCPUs       int
	MemoryBytes      uint64 // usage as the backend counts it (cache excluded where it can)
	MemoryLimitBytes uint64
	ThrottledPeriods uint64 // cumulative CFS periods the container was throttled
	TotalPeriods     uint64
}

// StatsStream yields samples until the container stops (io.EOF), ctx ends,
// or Close is called.
type StatsStream interface {
	Next() (Sample, error)
	Close() error
}

// Runtime runs containers for runs.
//
// Lifecycle of one run: Start, then any number of concurrent Logs, Stats and
// one Wait, then Remove once the logs and the exit status are safe. Stop may
// be called at any time from another goroutine. After the operator restarts,
// List finds the containers it started, and Logs/Stats/Wait/Stop/Remove work
// on them by ID exactly as on a fresh one (re-attach).
//
// Every method is safe for concurrent use. Stop and Remove are idempotent:
// on a container that is already stopped or gone they return nil. Methods
// addressing a container that does not exist return an error wrapping
// ErrNotFound (except Stop and Remove). A backend that cannot be reached
// returns errors wrapping ErrUnavailable, after retrying transient failures
// with backoff. A Runtime that never started anything is safe to Close.
type Runtime interface {
	// Start creates and starts the container, pulling the image if it is
	// missing, and returns the container ID.
	Start(ctx context.Context, spec RunSpec) (string, error)
	// Logs streams the container's output, stdout and stderr interleaved in
	// order, each line with its timestamp.
	Logs(ctx context.Context, id string, opts LogOptions) (LogStream, error)
	// Stats streams resource samples about once a second while it runs.
	Stats(ctx context.Context, id string) (StatsStream, error)
	// Wait blocks until the container exits and returns how it ended. On a
	// container that already exited it returns at once.
	Wait(ctx context.Context, id string) (ExitStatus, error)
	// Stop asks the container to stop (SIGTERM), kills it after grace.
	Stop(ctx context.Context, id string, grace time.Duration) error
	// Remove deletes the container (force: a running one is killed).
	Remove(ctx context.Context, id string) error
	// List returns the containers carrying all of the given labels, running
	// and exited.
	List(ctx context.Context, labels map[string]string) ([]Container, error)
	// Ping reports whether the backend answers (ErrUnavailable when not).
	Ping(ctx context.Context) error
	// Close releases the backend's resources; running containers go on.
	Close() error
}
