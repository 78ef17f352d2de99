package fake

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fastflow-dev/fastflow/runtime"
)

// Exit codes as Docker reports them.
const (
	codeKilled   = 137 // 128 + SIGKILL
	codeTermed   = 143 // 128 + SIGTERM
	codeNotFound = 127
)

// container is one fake container. All fields are guarded by daemon.mu.
type container struct {
	id      string
	spec    runtime.RunSpec
	labels  map[string]string
	mounts  []runtime.Mount
	prog    Program
	pc      int // the next step
	state   runtime.State
	started time.Time
	exit    *runtime.ExitStatus
	lines   []runtime.LogLine
	// files are those written outside every mount.
	files map[string]string
	calls map[Method]int

	// cancelStep cancels the pending Sleep, or the delayed exit of a TERM
	// handler; cancelKill the SIGKILL at the end of a Stop's grace.
	cancelStep func()
	cancelKill func()
	killAt     time.Time
	onTERM     *Step
	ignoreTERM bool
	terminated bool // SIGTERM was delivered
	stopped    bool // Stop was called
	stopGrace  time.Duration
	removed    bool

	// Resource use, accounted up to accounted.
	memory      int64
	millicores  int64
	accounted   time.Time
	cpuNs       int64
	runNs       int64
	throttledNs int64
	stats       map[*statsStream]struct{}
	cancelStats func()

	// probe is the health check, nil for none; cancelProbe cancels its
	// next run.
	probe       *probe
	cancelProbe func()
}

// Start creates the container of spec.RunID and runs its program up to its
// first wait, so whatever the program prints or does before its first Sleep
// has happened when Start returns. A command the fake cannot resolve to a
// program is no Start error: the container exits at once with 127 and the
// reason in ExitStatus.Error, as Docker reports a missing executable.
func (r *Runtime) Start(ctx context.Context, spec runtime.RunSpec) (string, error) {
	if err := validate(spec); err != nil {
		r.d.mu.Lock()
		r.d.calls[MethodStart]++
		r.d.notify()
		r.d.mu.Unlock()
		return "", callError(MethodStart, spec.RunID, err)
	}
	if err := r.begin(ctx, MethodStart, spec.RunID); err != nil {
		return "", err
	}
	d := r.d
	defer d.mu.Unlock()
	id, err := d.start(spec)
	if err != nil {
		return "", callError(MethodStart, spec.RunID, err)
	}
	return id, nil
}

// validate refuses what Docker's backend refuses before it calls the daemon.
func validate(spec runtime.RunSpec) error {
	if err := spec.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidSpec, err)
	}
	return nil
}

// start makes and starts the container. Called with d.mu held.
func (d *daemon) start(spec runtime.RunSpec) (string, error) {
	if c := d.byRun[spec.RunID]; c != nil {
		return "", fmt.Errorf("%w: %s is container %s", ErrRunExists, spec.RunID, c.id)
	}
	if d.images != nil && !d.images[spec.Image] {
		return "", fmt.Errorf("%w: %s is not there and cannot be pulled", runtime.ErrImage, spec.Image)
	}
	mounts, err := d.binds(spec)
	if err != nil {
		return "", err
	}
	prog, err := d.resolve(spec)
	if err != nil {
		return "", err
	}
	hc, err := d.healthCheck(spec)
	if err != nil {
		return "", err
	}
	d.seq++
	now := d.now()
	c := &container{
		id:        fmt.Sprintf("fake-%d", d.seq),
		spec:      cloneSpec(spec),
		labels:    labels(spec),
		mounts:    mounts,
		prog:      prog,
		state:     runtime.StateRunning,
		started:   now,
		accounted: now,
		files:     map[string]string{},
		calls:     map[Method]int{MethodStart: 1},
		stats:     map[*statsStream]struct{}{},
		probe:     hc,
	}
	d.containers[c.id] = c
	d.order = append(d.order, c)
	d.byRun[spec.RunID] = c
	if prog == nil {
		c.state = runtime.StateExited
		c.exit = &runtime.ExitStatus{
			Code:       codeNotFound,
			Error:      fmt.Sprintf("fake: exec %q: executable file not found (no program for this command)", strings.Join(spec.Command, " ")),
			FinishedAt: now,
		}
	} else {
		if hc != nil {
			d.scheduleProbe(c)
		}
		d.run(c)
	}
	d.notify()
	return c.id, nil
}

// labels are the spec's labels with the backend's own, which win.
func labels(spec runtime.RunSpec) map[string]string {
	l := maps.Clone(spec.Labels)
	if l == nil {
		l = map[string]string{}
	}
	l[runtime.LabelRunID] = spec.RunID
	l[runtime.LabelPipeline] = spec.Pipeline
	l[runtime.LabelRevision] = spec.Revision
	l[runtime.LabelKind] = spec.Kind
	return l
}

func cloneSpec(s runtime.RunSpec) runtime.RunSpec {
	s.Command = slices.Clone(s.Command)
	s.Env = maps.Clone(s.Env)
	s.Labels = maps.Clone(s.Labels)
	s.Caches = slices.Clone(s.Caches)
	s.Mounts = slices.Clone(s.Mounts)
	if s.HealthCheck != nil {
		hc := *s.HealthCheck
		hc.Command = slices.Clone(hc.Command)
		s.HealthCheck = &hc
	}
	if s.Code != nil {
		code := *s.Code
		s.Code = &code
	}
	return s
}

// validRevision is a revision folder name: a commit SHA, never a path.
var validRevision = regexp.MustCompile(`^[0-9a-f]{7,64}$`)

// binds resolves the spec's code, caches and mounts to host folders the way
// the Docker backend does, refusing a mount whose source is missing.
func (d *daemon) binds(spec runtime.RunSpec) ([]runtime.Mount, error) {
	var out []runtime.Mount
	if code := spec.Code; code != nil {
		switch {
		case d.revisions == "":
			return nil, fmt.Errorf("%w: the spec names code but the fake has no revisions folder", ErrInvalidSpec)
		case code.Target == "" || !validRevision.MatchString(code.Revision):
			return nil, fmt.Errorf("%w: code %q at %q", ErrInvalidSpec, code.Revision, code.Target)
		}
		out = append(out, runtime.Mount{Source: filepath.Join(d.revisions, code.Revision), Target: code.Target, ReadOnly: true})
	}
	for _, cache := range spec.Caches {
		dir, ok := d.cacheDirs[cache.Name]
		if !ok || cache.Target == "" {
			return nil, fmt.Errorf("%w: no folder for cache %q", ErrInvalidSpec, cache.Name)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("cache %s: %w", cache.Name, err)
		}
		out = append(out, runtime.Mount{Source: dir, Target: cache.Target})
	}
	out = append(out, spec.Mounts...)
	for _, m := range out {
		if _, err := os.Stat(m.Source); err != nil {
			return nil, fmt.Errorf("mount %s at %s: %w", m.Source, m.Target, err)
		}
	}
	return out, nil
}

// resolve returns the spec's program, nil when its command is not found.
func (d *daemon) resolve(spec runtime.RunSpec) (Program, error) {
	prog, ok, err := decodeCommand(spec.Command)
	if err != nil {
		return nil, err
	}
	if !ok && d.program != nil {
		prog = d.program(cloneSpec(spec))
	}
	if prog == nil {
		return nil, nil
	}
	if err := prog.validate(); err != nil {
		return nil, err
	}
	return prog.clone(), nil
}

// run executes c's program from c.pc until it waits or ends. Called with
// d.mu held.
func (d *daemon) run(c *container) {
	for c.state == runtime.StateRunning && c.cancelStep == nil {
		if c.pc == len(c.prog) {
			d.finish(c, runtime.ExitStatus{})
			return
		}
		s := c.prog[c.pc]
		c.pc++
		switch s.Op {
		case OpPrint:
			d.print(c, s.Stream, s.Text)
		case OpEcho:
			d.print(c, s.Stream, os.Expand(s.Text, func(name string) string {
				if name == "$" {
					return "$"
				}
				return c.spec.Env[name]
			}))
		case OpSpam:
			for i := range s.N {
				d.print(c, Stdout, "line "+strconv.FormatInt(i+1, 10))
			}
		case OpPrintWorkDir:
			wd := c.spec.WorkDir
			if wd == "" {
				wd = "/"
			}
			d.print(c, Stdout, s.Text+wd)
		case OpPrintMemLimit:
			d.print(c, Stdout, s.Text+limit(c.spec.Limits.MemoryBytes, 1))
		case OpPrintMilliCPUs:
			d.print(c, Stdout, s.Text+limit(c.spec.Limits.NanoCPUs, 1_000_000))
		case OpCat:
			d.cat(c, s.Path)
		case OpWrite:
			if err := c.write(s.Path, s.Text+"\n"); err != nil {
				msg := err.Error()
				if errors.Is(err, errReadOnly) {
					msg = "Read-only file system" // the shell's words
				}
				d.print(c, Stderr, fmt.Sprintf("sh: can't create %s: %s", s.Path, msg))
			}
		case OpTryWrite:
			answer := "writable"
			if c.write(s.Path, "x\n") != nil {
				answer = "denied"
			}
			d.print(c, Stdout, s.Text+answer)
		case OpSleep:
			if s.Delay > 0 {
				c.cancelStep = d.after(s.Delay, func() {
					c.cancelStep = nil
					d.run(c)
					d.notify()
				})
			}
		case OpForever:
			c.pc-- // stays on this step until a signal ends it
			return
		case OpExit:
			d.finish(c, runtime.ExitStatus{Code: s.Code})
		case OpOOM:
			d.finish(c, runtime.ExitStatus{Code: codeKilled, OOMKilled: true})
		case OpSetMemory:
			d.account(c)
			c.memory = s.N
			if lim := c.spec.Limits.MemoryBytes; lim > 0 && s.N > lim {
				d.finish(c, runtime.ExitStatus{Code: codeKilled, OOMKilled: true})
			}
		case OpSetCPU:
			d.account(c)
			c.millicores = s.N
		case OpOnTERM:
			c.onTERM, c.ignoreTERM = &s, false
		case OpIgnoreTERM:
			c.onTERM, c.ignoreTERM = nil, true
		}
	}
}

// limit formats a cgroup limit of n units of unit, "max" for none.
func limit(n, unit int64) string {
	if n <= 0 {
		return "max"
	}
	return strconv.FormatInt(n/unit, 10)
}

// print adds a line to c's output. Called with d.mu held.
func (d *daemon) print(c *container, stream, text string) {
	c.lines = append(c.lines, runtime.LogLine{Time: d.now(), Stream: stream, Text: text})
	d.notify()
}

// cat prints the lines of the file at p, or cat's complaint.
func (d *daemon) cat(c *container, p string) {
	text, err := c.read(p)
	if err != nil {
		msg := err.Error()
		if errors.Is(err, fs.ErrNotExist) {
			msg = "No such file or directory"
		}
		d.print(c, Stderr, fmt.Sprintf("cat: can't open '%s': %s", p, msg))
		return
	}
	for _, l := range strings.SplitAfter(text, "\n") {
		if l != "" {
			d.print(c, Stdout, strings.TrimSuffix(l, "\n"))
		}
	}
}

// hostPath maps the container path p to the host through the mount with
// the longest target holding it; ok is false outside every mount.
func (c *container) hostPath(p string) (host string, readOnly, ok bool) {
	if !path.IsAbs(p) {
		wd := c.spec.WorkDir
		if wd == "" {
			wd = "/"
		}
		p = path.Join(wd, p)
	}
	p = path.Clean(p)
	best := -1
	for i, m := range c.mounts {
		t := path.Clean(m.Target)
		if (p == t || t == "/" || strings.HasPrefix(p, t+"/")) && (best < 0 || len(t) >= len(path.Clean(c.mounts[best].Target))) {
			best = i
		}
	}
	if best < 0 {
		return p, false, false
	}
	m := c.mounts[best]
	rel := strings.TrimPrefix(p, path.Clean(m.Target))
	return filepath.Join(m.Source, filepath.FromSlash(rel)), m.ReadOnly, true
}

func (c *container) read(p string) (string, error) {
	host, _, ok := c.hostPath(p)
	if !ok {
		text, found := c.files[host]
		if !found {
			return "", fs.ErrNotExist
		}
		return text, nil
	}
	b, err := os.ReadFile(host)
	return string(b), err
}

func (c *container) write(p, text string) error {
	host, readOnly, ok := c.hostPath(p)
	switch {
	case !ok:
		c.files[host] = text
		return nil
	case readOnly:
		return errReadOnly
	}
	return os.WriteFile(host, []byte(text), 0o644)
}

// terminate delivers SIGTERM to the running c and, when that does not end
// it, schedules SIGKILL after grace (or sooner, if an earlier Stop asked for
// a shorter one). Called with d.mu held.
func (d *daemon) terminate(c *container, grace time.Duration) {
	if !c.terminated {
		c.terminated = true
		switch {
		case c.onTERM != nil:
			h := c.onTERM
			if c.cancelStep != nil {
				c.cancelStep() // the signal interrupts a Sleep
			}
			c.cancelStep = nil
			for _, l := range h.Lines {
				d.print(c, Stdout, l)
			}
			if h.Delay <= 0 {
				d.finish(c, runtime.ExitStatus{Code: h.Code})
			} else {
				c.cancelStep = d.after(h.Delay, func() {
					c.cancelStep = nil
					d.finish(c, runtime.ExitStatus{Code: h.Code})
				})
			}
		case c.ignoreTERM || !c.spec.Init:
			// Ignored: by the program, or by the kernel for a PID 1
			// without a handler.
		default:
			d.finish(c, runtime.ExitStatus{Code: codeTermed})
		}
	}
	if c.state != runtime.StateRunning {
		return
	}
	killAt := d.now().Add(grace)
	if c.cancelKill != nil && !killAt.Before(c.killAt) {
		return
	}
	if c.cancelKill != nil {
		c.cancelKill()
	}
	if grace <= 0 {
		d.finish(c, runtime.ExitStatus{Code: codeKilled})
		return
	}
	c.killAt = killAt
	c.cancelKill = d.after(grace, func() {
		c.cancelKill = nil
		d.finish(c, runtime.ExitStatus{Code: codeKilled})
	})
}

// finish ends the running c with st, stamped now. Called with d.mu held.
func (d *daemon) finish(c *container, st runtime.ExitStatus) {
	if c.state != runtime.StateRunning {
		return
	}
	d.account(c)
	for _, cancel := range []func(){c.cancelStep, c.cancelKill, c.cancelStats, c.cancelProbe} {
		if cancel != nil {
			cancel()
		}
	}
	c.cancelStep, c.cancelKill, c.cancelStats, c.cancelProbe = nil, nil, nil, nil
	st.FinishedAt = d.now()
	c.exit = &st
	c.state = runtime.StateExited
	d.notify()
}
