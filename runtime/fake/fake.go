package fake

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/fastflow-dev/fastflow/runtime"
)

var _ runtime.Runtime = (*Runtime)(nil)

var (
	// ErrRunExists is returned, wrapped, by Start when a container of the
	// run ID exists and was not removed, as Docker's fixed container name
	// makes a second start of one run a conflict.
	ErrRunExists = errors.New("fake: a container for this run already exists")
	// ErrInvalidSpec is returned, wrapped, by Start for a RunSpec, or a
	// program, it cannot run.
	ErrInvalidSpec = errors.New("fake: invalid run spec")
	// ErrDown is returned, wrapped, by every call while the daemon is
	// unavailable (SetAvailable(false)), and by the streams and waits it
	// broke. It wraps runtime.ErrUnavailable.
	ErrDown = fmt.Errorf("fake: daemon down: %w", runtime.ErrUnavailable)
	// ErrClosed is returned, wrapped, by the calls on a Runtime after its
	// Close, and by the streams Close ended.
	ErrClosed = errors.New("fake: runtime closed")
	// ErrStreamClosed is returned by a stream's Next after its Close.
	ErrStreamClosed = errors.New("fake: stream closed")

	// errReadOnly is a program's write under a read-only mount.
	errReadOnly = errors.New("fake: read-only file system")
)

// Method names a runtime.Runtime method, for call counts and injected
// faults.
type Method string

// The methods of runtime.Runtime.
const (
	MethodStart  Method = "Start"
	MethodLogs   Method = "Logs"
	MethodStats  Method = "Stats"
	MethodWait   Method = "Wait"
	MethodStop   Method = "Stop"
	MethodRemove Method = "Remove"
	MethodList   Method = "List"
	MethodPing   Method = "Ping"
	MethodClose  Method = "Close"

	// The methods of runtime.Sweeper.
	MethodVolumes        Method = "Volumes"
	MethodRemoveVolume   Method = "RemoveVolume"
	MethodDanglingImages Method = "DanglingImages"
	MethodRemoveImage    Method = "RemoveImage"
)

// Config configures a fake daemon. The zero Config runs in real time and
// has every image.
type Config struct {
	// Clock is the time the containers' programs run on; nil is the real
	// time. Give the *Clock the code under test uses, and Advance it.
	Clock TimeSource
	// RevisionsDir holds one folder per revision, as for docker.Config: a
	// RunSpec's Code is mounted read-only from RevisionsDir/<revision>.
	// Empty refuses specs that name code.
	RevisionsDir string
	// CacheDirs maps each cache name a RunSpec may ask for to its host
	// folder, created on first use.
	CacheDirs map[string]string
	// Images, when not nil, are the images the daemon has or can pull;
	// Start of any other fails with runtime.ErrImage.
	Images []string
	// Program resolves the program of a spec whose command Command did
	// not make (the operator's commands); nil, or a nil Program, and the
	// command is not found (exit 127). SetProgram replaces it.
	Program func(spec runtime.RunSpec) Program
	// StatsInterval is the time between Stats samples; 0 is one second.
	StatsInterval time.Duration
	// CPUs is the host's CPU count in samples; 0 is 4.
	CPUs int
	// HostMemory is the memory limit samples report for a container
	// without one; 0 is 8 GiB.
	HostMemory int64
	// HealthChecks are the images' own health checks (their HEALTHCHECK),
	// by image; a RunSpec's HealthCheck replaces its image's. Their
	// commands are FileProbe's.
	HealthChecks map[string]runtime.HealthCheck
	// ForgetRemoved makes the daemon forget a container once Remove
	// removed it, as Docker does, instead of keeping its snapshot for
	// Containers and Container: for runs long enough that the kept
	// containers would be most of the process's memory (benchmarks).
	ForgetRemoved bool
}

// Runtime is a client of a fake daemon; it implements runtime.Runtime.
// New makes a daemon and its first client, Connect another client of the
// same daemon (an operator that restarted). The scripting methods
// (SetAvailable, Fail, Hang, Containers...) act on the daemon, whichever of
// its clients they are called on. All methods are safe for concurrent use.
type Runtime struct {
	d         *daemon
	closeOnce sync.Once
	// closed is closed by Close; the calls and streams of this client
	// end with ErrClosed.
	closed chan struct{}
}

// daemon is the state the clients of one fake share.
type daemon struct {
	clock      TimeSource
	revisions  string
	cacheDirs  map[string]string
	images     map[string]bool // nil: every image
	interval   time.Duration
	cpus       int
	hostMemory int64
	// healthChecks are Config.HealthChecks.
	healthChecks map[string]runtime.HealthCheck
	forget       bool // Config.ForgetRemoved

	mu sync.Mutex
	// changed is closed and replaced on every change of state, which is
	// what blocked calls, streams and Await wait for.
	changed    chan struct{}
	program    func(runtime.RunSpec) Program
	seq        int
	containers map[string]*container
	order      []*container          // in start order
	byRun      map[string]*container // the run's container that is not removed
	down       bool
	// volumes and dangling images are what the Sweeper methods see,
	// made by AddVolume and AddDanglingImage.
	volumes  map[string]*object
	dangling map[string]*object
	// outages counts SetAvailable(false) calls: a stream or wait opened
	// before the latest one is broken even after the daemon is back, as
	// its connection would be.
	outages  int
	calls    map[Method]int
	fail     map[Method]error
	failNext map[Method][]error
	hangs    map[Method]*hang
}

// hang is a Hang in force: calls wait for released to close.
type hang struct {
	released chan struct{}
	release  func()
}

// New returns the first client of a new fake daemon.
func New(cfg Config) *Runtime {
	d := &daemon{
		clock:        cfg.Clock,
		revisions:    cfg.RevisionsDir,
		cacheDirs:    maps.Clone(cfg.CacheDirs),
		interval:     cfg.StatsInterval,
		cpus:         cfg.CPUs,
		hostMemory:   cfg.HostMemory,
		healthChecks: maps.Clone(cfg.HealthChecks),
		forget:       cfg.ForgetRemoved,
		changed:      make(chan struct{}),
		program:      cfg.Program,
		containers:   map[string]*container{},
		byRun:        map[string]*container{},
		volumes:      map[string]*object{},
		dangling:     map[string]*object{},
		calls:        map[Method]int{},
		fail:         map[Method]error{},
		failNext:     map[Method][]error{},
		hangs:        map[Method]*hang{},
	}
	if d.clock == nil {
		d.clock = realTime{}
	}
	if cfg.Images != nil {
		d.images = make(map[string]bool, len(cfg.Images))
		for _, img := range cfg.Images {
			d.images[img] = true
		}
	}
	if d.interval <= 0 {
		d.interval = time.Second
	}
	if d.cpus <= 0 {
		d.cpus = 4
	}
	if d.hostMemory <= 0 {
		d.hostMemory = 8 << 30
	}
	return d.client()
}

func (d *daemon) client() *Runtime {
	return &Runtime{d: d, closed: make(chan struct{})}
}

// Connect returns another client of the same daemon, as an operator that
// restarted opens: it finds the containers with List and re-attaches to
// them by ID. Closing one client leaves the others working.
func (r *Runtime) Connect() *Runtime { return r.d.client() }

// now is the daemon's time without a monotonic reading, as a daemon's
// timestamps come.
func (d *daemon) now() time.Time { return d.clock.Now().Round(0) }

// notify wakes every waiter for a change. Called with d.mu held.
func (d *daemon) notify() {
	close(d.changed)
	d.changed = make(chan struct{})
}

// after runs f with d.mu held after dur on the daemon's clock, unless the
// returned cancel (called with d.mu held) comes first. The flag makes a
// callback that the real clock had already started when cancel came a no-op.
func (d *daemon) after(dur time.Duration, f func()) (cancel func()) {
	var done bool // guarded by d.mu
	t := d.clock.AfterFunc(dur, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if done {
			return
		}
		done = true
		f()
	})
	return func() {
		done = true
		t.Stop()
	}
}

// begin records a call of m on id and plays what the test scripted for it:
// a hang, the daemon being down, an injected error. It returns nil with d.mu
// held when the call is to go on, and the call's error with d.mu unlocked
// when not.
func (r *Runtime) begin(ctx context.Context, m Method, id string) error {
	d := r.d
	d.mu.Lock()
	d.calls[m]++
	// Start names a run, not a container; the container counts its own.
	if c := d.containers[id]; c != nil && m != MethodStart {
		c.calls[m]++
	}
	d.notify()
	if h, ok := d.hangs[m]; ok && !r.isClosed() {
		d.mu.Unlock()
		select {
		case <-h.released:
		case <-ctx.Done():
			return callError(m, id, ctx.Err())
		case <-r.closed:
		}
		d.mu.Lock()
	}
	var err error
	switch {
	case r.isClosed():
		err = ErrClosed
	case ctx.Err() != nil:
		err = ctx.Err()
	case d.down:
		err = ErrDown
	default:
		err = d.injected(m)
	}
	if err != nil {
		d.mu.Unlock()
		return callError(m, id, err)
	}
	return nil
}

// injected pops the next error FailNext queued for m, or returns Fail's.
func (d *daemon) injected(m Method) error {
	if q := d.failNext[m]; len(q) > 0 {
		d.failNext[m] = q[1:]
		return q[0]
	}
	return d.fail[m]
}

func callError(m Method, id string, err error) error {
	if id == "" {
		return fmt.Errorf("fake %s: %w", strings.ToLower(string(m)), err)
	}
	return fmt.Errorf("fake %s %s: %w", strings.ToLower(string(m)), id, err)
}

func (r *Runtime) isClosed() bool {
	select {
	case <-r.closed:
		return true
	default:
		return false
	}
}

// Close ends this client: its later calls fail with ErrClosed and its open
// streams and waits end with it. The daemon and its containers go on, and
// other clients are unaffected. Close is idempotent.
func (r *Runtime) Close() error {
	r.d.mu.Lock()
	r.d.calls[MethodClose]++
	r.closeOnce.Do(func() { close(r.closed) })
	r.d.notify()
	r.d.mu.Unlock()
	return nil
}

// Ping reports ErrDown while the daemon is unavailable.
func (r *Runtime) Ping(ctx context.Context) error {
	if err := r.begin(ctx, MethodPing, ""); err != nil {
		return err
	}
	r.d.mu.Unlock()
	return nil
}

// SetAvailable takes the daemon down (false) or brings it back (true).
// While it is down every call of every client returns an error wrapping
// ErrDown (and so runtime.ErrUnavailable); taking it down breaks the open
// Logs and Stats streams, blocked Waits and Stops with that error, and they
// stay broken when it comes back. The containers go on running their
// programs meanwhile; KillAll makes them die with the daemon.
func (r *Runtime) SetAvailable(up bool) {
	d := r.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if !up && !d.down {
		d.outages++
	}
	d.down = !up
	d.notify()
}

// Fail makes every later call of m return err, wrapped, until Fail(m, nil).
// FailNext's errors come first.
func (r *Runtime) Fail(m Method, err error) {
	d := r.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if err == nil {
		delete(d.fail, m)
	} else {
		d.fail[m] = err
	}
}

// FailNext makes the next len(errs) calls of m return those errors in turn,
// wrapped; a nil among them lets that call through.
func (r *Runtime) FailNext(m Method, errs ...error) {
	d := r.d
	d.mu.Lock()
	defer d.mu.Unlock()
	d.failNext[m] = append(d.failNext[m], errs...)
}

// Hang makes the calls of m block, from now until release is called: each
// one ends with its context's error if the context ends first, and goes on
// as usual after release. A Stop that hangs, for instance, is
// rt.Hang(fake.MethodStop). release may be called more than once; a Hang of
// a method that already hangs returns the same release.
func (r *Runtime) Hang(m Method) (release func()) {
	d := r.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if h, ok := d.hangs[m]; ok {
		return h.release
	}
	h := &hang{released: make(chan struct{})}
	h.release = sync.OnceFunc(func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.hangs[m] == h {
			delete(d.hangs, m)
		}
		close(h.released)
		d.notify()
	})
	d.hangs[m] = h
	return h.release
}

// SetProgram replaces Config.Program for the containers started from now.
func (r *Runtime) SetProgram(f func(spec runtime.RunSpec) Program) {
	r.d.mu.Lock()
	defer r.d.mu.Unlock()
	r.d.program = f
}

// Calls returns how often m was called on the daemon's clients so far,
// failed and hanging calls included.
func (r *Runtime) Calls(m Method) int {
	r.d.mu.Lock()
	defer r.d.mu.Unlock()
	return r.d.calls[m]
}

// WaitCalls waits until m has been called at least n times. A call counts
// once it has taken effect: when WaitCalls(ctx, MethodStop, 1) returns, the
// container has had its SIGTERM and its kill is scheduled (a hanging call
// counts while it hangs).
func (r *Runtime) WaitCalls(ctx context.Context, m Method, n int) error {
	err := r.Await(ctx, func() bool { return r.Calls(m) >= n })
	if err != nil {
		return fmt.Errorf("fake: wait for %d calls of %s (have %d): %w", n, m, r.Calls(m), err)
	}
	return nil
}

// Await waits until cond reports true. cond is checked now and after every
// change of the daemon's state (a call, a line printed, an exit...); it runs
// without the daemon's lock, so it may call the Runtime's methods. Await
// returns ctx's error, wrapped, if ctx ends first.
func (r *Runtime) Await(ctx context.Context, cond func() bool) error {
	for {
		r.d.mu.Lock()
		changed := r.d.changed
		r.d.mu.Unlock()
		if cond() {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("fake: await: %w", ctx.Err())
		}
	}
}
