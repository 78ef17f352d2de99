package dockertest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fastflow-dev/fastflow/internal/testenv"
	"github.com/fastflow-dev/fastflow/runtime/docker"
)

// A private dockerd is an engine of the test's own: its socket, data root,
// exec root, pid file, config file and cgroup parent all live in a
// directory of its own, so a test may stop it, kill it with SIGKILL and
// start it again while the host's engine and every other test's containers
// go on untouched.
const (
	// privateWhat names the part in skip and failure messages.
	privateWhat = "a private dockerd"
	// privateRoot holds one directory per private daemon. It is short on
	// purpose: dockerd and containerd put unix sockets under the exec
	// root, and a socket path must stay below 108 bytes.
	privateRoot = "/tmp/ffpd"
	// imageCacheDir keeps `docker save` tarballs of the host's images,
	// named by image ID, so a warm start loads them without asking the
	// host engine to export them again.
	imageCacheDir = "/var/cache/fastflow/private-dockerd"
	// testEnvFlags is where scripts/test-env.sh records the flags that
	// brought the host's dockerd up on this machine.
	testEnvFlags = "/var/lib/fastflow-test-env/dockerd-flags"
	// cgroupPrefix starts the cgroup parent of a private daemon's
	// containers: its own tree, which cleanup can empty and remove.
	cgroupPrefix = "fastflow-privated-"
	// answerTimeout bounds how long dockerd may take to answer after it
	// starts: restoring containers after a crash takes seconds.
	answerTimeout = 90 * time.Second
	// stopTimeout bounds a graceful stop. dockerd gives its containers 15
	// s (--shutdown-timeout) before it kills them, then stops containerd.
	stopTimeout = 90 * time.Second
)

// PrivateDaemon is a dockerd a test started for itself. Start, Stop and
// Kill are called from the test's goroutine, one at a time; Host and Log
// are safe at any time. Everything it made (containers, processes, mounts,
// cgroups, directories) is removed when the test ends.
type PrivateDaemon struct {
	t       testing.TB
	dir     string
	host    string
	logPath string
	cgroup  string
	flags   []string
	ping    *docker.Client

	mu     sync.Mutex
	proc   *os.Process
	exited chan struct{} // closed once the current dockerd has exited
}

// StartPrivate starts a private dockerd and loads images into it from the
// host's engine, which is only read (docker save). It skips the test when
// the parts are missing (root, dockerd, the docker CLI, the host's engine
// and images), and fails it under CI=true. The daemon is stopped and
// everything it made removed in t.Cleanup.
func StartPrivate(t testing.TB, images ...string) *PrivateDaemon {
	t.Helper()
	var err error
	switch {
	case os.Geteuid() != 0:
		err = errors.New("starting dockerd needs root")
	default:
		for _, bin := range []string{"dockerd", "docker"} {
			if _, lerr := exec.LookPath(bin); lerr != nil {
				err = fmt.Errorf("%s is not installed (scripts/test-env.sh installs docker.io): %w", bin, lerr)
				break
			}
		}
	}
	testenv.Require(t, privateWhat, err)
	for _, image := range images {
		RequireImage(t, image)
	}

	sweepStale(t)
	if err := os.MkdirAll(privateRoot, 0o700); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp(privateRoot, "")
	if err != nil {
		t.Fatal(err)
	}
	d := &PrivateDaemon{
		t: t, dir: dir,
		host:    "unix://" + filepath.Join(dir, "docker.sock"),
		logPath: filepath.Join(dir, "dockerd.log"),
		cgroup:  cgroupPrefix + filepath.Base(dir),
	}
	// Registered before anything runs, so a failed start is cleaned too.
	t.Cleanup(d.cleanup)
	if err := os.WriteFile(filepath.Join(dir, "owner"), []byte(processIdentity(os.Getpid())), 0o600); err != nil {
		t.Fatal(err)
	}
	if d.ping, err = docker.New(docker.Config{Host: d.host}); err != nil {
		t.Fatal(err)
	}

	began := time.Now()
	if err := d.startFirst(); err != nil {
		testenv.Require(t, privateWhat, err)
	}
	t.Logf("private dockerd up in %s at %s (%s)", time.Since(began).Round(time.Millisecond), d.host, strings.Join(d.flags, " "))
	for _, image := range images {
		d.load(image)
	}
	return d
}

// Host is the daemon's address, for docker.Config.Host.
func (d *PrivateDaemon) Host() string { return d.host }

// Log is the path of dockerd's log (every start appends to it).
func (d *PrivateDaemon) Log() string { return d.logPath }

// Start starts dockerd again on the same data root, after Stop or Kill,
// and waits for it to answer.
func (d *PrivateDaemon) Start() {
	d.t.Helper()
	if d.running() {
		d.t.Fatal("private dockerd: Start while it runs")
	}
	if err := d.spawn(); err != nil {
		d.t.Fatalf("private dockerd: start again: %v", err)
	}
}

// Stop stops dockerd as an administrator or a service manager would:
// SIGTERM, then wait for it to exit. Without live-restore, dockerd stops
// its containers first (their stop signal, SIGKILL after their stop
// timeout, 15 s at most) and takes its containerd down with it.
func (d *PrivateDaemon) Stop() {
	d.t.Helper()
	if err := d.signal(syscall.SIGTERM, stopTimeout); err != nil {
		d.t.Fatalf("private dockerd: stop: %v", err)
	}
}

// Kill crashes dockerd: SIGKILL to dockerd alone, as the OOM killer or a
// panic would end it. Its containerd dies with it (dockerd starts it with
// a parent-death signal), but the containerd-shims and the containers keep
// running, and so does their output into the shims' FIFOs, with nobody
// reading it, until dockerd is started again.
func (d *PrivateDaemon) Kill() {
	d.t.Helper()
	containerd := d.containerdPID()
	if err := d.signal(syscall.SIGKILL, 10*time.Second); err != nil {
		d.t.Fatalf("private dockerd: kill: %v", err)
	}
	// containerd dies of its parent's death, and is reaped by whoever
	// inherits it. Until then its pid still answers kill -0, and a
	// dockerd started meanwhile takes it for a running containerd and
	// waits for its socket in vain.
	began := time.Now()
	for containerd > 0 && syscall.Kill(containerd, 0) == nil && time.Since(began) < 30*time.Second {
		time.Sleep(20 * time.Millisecond)
	}
	d.t.Logf("private dockerd: containerd %d gone %s after the kill", containerd, time.Since(began).Round(time.Millisecond))
	shims := 0
	for _, p := range d.ownProcesses() {
		if strings.Contains(p.cmdline, "containerd-shim") {
			shims++
		}
	}
	d.t.Logf("private dockerd killed: containerd alive=%v, containerd-shims alive=%d, container processes=%d",
		d.containerdAlive(), shims, len(d.Processes()))
}

// Processes lists the processes running in the daemon's containers (its
// cgroup tree), whether or not dockerd runs: a test waits on it for a
// container to end while the engine is down.
func (d *PrivateDaemon) Processes() []int {
	var pids []int
	for _, root := range cgroupRoots(d.cgroup) {
		_ = filepath.WalkDir(root, func(path string, e fs.DirEntry, err error) error {
			if err != nil || e.IsDir() || e.Name() != "cgroup.procs" {
				return nil
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return nil
			}
			for _, f := range strings.Fields(string(b)) {
				if pid, err := strconv.Atoi(f); err == nil && !slices.Contains(pids, pid) {
					pids = append(pids, pid)
				}
			}
			return nil
		})
	}
	slices.Sort(pids)
	return pids
}

// startFirst starts dockerd on a fresh data root with the storage driver
// the host's dockerd was found to work with, falling back to vfs, which
// needs no kernel support.
func (d *PrivateDaemon) startFirst() error {
	base := []string{
		"--host", d.host,
		"--data-root", filepath.Join(d.dir, "data"),
		"--exec-root", filepath.Join(d.dir, "exec"),
		"--pidfile", filepath.Join(d.dir, "docker.pid"),
		"--config-file", filepath.Join(d.dir, "daemon.json"),
		// No bridge, no iptables rules, no sysctls: the host's network
		// is left as it is. The tests' containers use --network none.
		"--bridge=none", "--iptables=false", "--ip6tables=false", "--ip-forward=false", "--ip-masq=false",
		// Containers in a cgroup tree of their own, found and emptied
		// by cleanup whatever state dockerd is in.
		"--exec-opt", "native.cgroupdriver=cgroupfs", "--cgroup-parent", "/" + d.cgroup,
	}
	// A config file of its own, so /etc/docker/daemon.json of the
	// host's engine is never read. dockerd 20.10 keeps a trust key in
	// /etc/docker unless the file says where; later versions refuse the
	// setting, and get an empty file.
	config := filepath.Join(d.dir, "daemon.json")
	configs := []string{
		fmt.Sprintf("{\"deprecated-key-path\": %q}\n", filepath.Join(d.dir, "key.json")),
		"{}\n",
	}
	drivers := []string{recordedStorageDriver()}
	if drivers[0] != "vfs" {
		drivers = append(drivers, "vfs")
	}
	var errs []error
	for _, driver := range drivers {
		for i, conf := range configs {
			if err := os.WriteFile(config, []byte(conf), 0o600); err != nil {
				return err
			}
			d.flags = slices.Clone(base)
			if driver != "" {
				d.flags = append(d.flags, "--storage-driver", driver)
			}
			err := d.spawn()
			if err == nil {
				return nil
			}
			errs = append(errs, err)
			d.t.Logf("private dockerd: storage driver %q, config %s: %v", driver, strings.TrimSpace(conf), err)
			_ = d.scrub()
			if i == len(configs)-1 || !strings.Contains(err.Error(), "deprecated-key-path") {
				break
			}
		}
	}
	return fmt.Errorf("no configuration of dockerd starts (log: %s): %w", d.logPath, errors.Join(errs...))
}

// recordedStorageDriver is the --storage-driver scripts/test-env.sh found
// to work for the host's dockerd, or "" for dockerd's own choice.
func recordedStorageDriver() string {
	b, err := os.ReadFile(testEnvFlags)
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	for i, arg := range f {
		if v, ok := strings.CutPrefix(arg, "--storage-driver="); ok {
			return v
		}
		if (arg == "--storage-driver" || arg == "-s") && i+1 < len(f) {
			return f[i+1]
		}
	}
	return ""
}

// spawn starts dockerd with d.flags and waits until it answers a ping.
func (d *PrivateDaemon) spawn() error {
	logf, err := os.OpenFile(d.logPath, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(logf, "\n==== %s dockerd %s\n", time.Now().UTC().Format(time.RFC3339Nano), strings.Join(d.flags, " "))
	cmd := exec.Command("dockerd", d.flags...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// If the test binary dies (a -timeout panic), dockerd is told to stop
	// its containers and itself instead of running on; the next
	// StartPrivate sweeps what is left.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	started := make(chan error, 1)
	exited := make(chan struct{})
	go func() {
		// The parent-death signal follows the thread that started the
		// child, not the process: this goroutine keeps its thread until
		// dockerd has exited.
		goruntime.LockOSThread()
		defer goruntime.UnlockOSThread()
		defer logf.Close()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		_ = cmd.Wait()
		close(exited)
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("start dockerd: %w", err)
	}
	d.mu.Lock()
	d.proc, d.exited = cmd.Process, exited
	d.mu.Unlock()

	deadline := time.Now().Add(answerTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := d.ping.Ping(ctx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("dockerd exited: %s", d.logTail(5))
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = d.signal(syscall.SIGKILL, 10*time.Second)
			return fmt.Errorf("dockerd did not answer within %s: %s", answerTimeout, d.logTail(5))
		}
	}
}

// signal sends sig to dockerd and waits up to within for it to exit; a
// daemon that does not is killed.
func (d *PrivateDaemon) signal(sig syscall.Signal, within time.Duration) error {
	d.mu.Lock()
	proc, exited := d.proc, d.exited
	d.mu.Unlock()
	if proc == nil {
		return errors.New("dockerd is not running")
	}
	if err := proc.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal %s: %w", sig, err)
	}
	t := time.NewTimer(within)
	defer t.Stop()
	var err error
	select {
	case <-exited:
	case <-t.C:
		err = fmt.Errorf("dockerd did not exit within %s of %s; killed it", within, sig)
		_ = proc.Kill()
		<-exited
	}
	d.mu.Lock()
	d.proc = nil
	d.mu.Unlock()
	return err
}

func (d *PrivateDaemon) running() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.proc != nil
}

// logTail is the last n lines of dockerd's log, on one line.
func (d *PrivateDaemon) logTail(n int) string {
	b, _ := os.ReadFile(d.logPath)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], " | ")
}

// cli runs the docker CLI against the private daemon only: DOCKER_HOST
// names it and no context can point elsewhere.
func (d *PrivateDaemon) cli(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Env = append(slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "DOCKER_HOST=") || strings.HasPrefix(kv, "DOCKER_CONTEXT=")
	}), "DOCKER_HOST="+d.host)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("docker %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

// load copies image from the host's engine into the private one, through
// a tarball cached by image ID: a warm start reads it from disk.
func (d *PrivateDaemon) load(image string) {
	t := d.t
	t.Helper()
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", "image", "inspect", "-f", "{{.Id}}", image).Output()
	if err != nil {
		t.Fatalf("private dockerd: inspect %s on the host engine: %v", image, err)
	}
	id := strings.TrimSpace(string(out))
	name := strings.NewReplacer("/", "_", ":", "_").Replace(image)
	tarball := filepath.Join(imageCacheDir, name+"-"+strings.TrimPrefix(id, "sha256:")+".tar")
	cached := "warm"
	if _, err := os.Stat(tarball); err != nil {
		cached = "cold"
		if err := os.MkdirAll(imageCacheDir, 0o755); err != nil {
			t.Fatal(err)
		}
		// Written under a temporary name and renamed, so a concurrent
		// or interrupted save never leaves a short tarball in its place.
		tmp, err := os.CreateTemp(imageCacheDir, ".save-*")
		if err != nil {
			t.Fatal(err)
		}
		tmp.Close()
		defer os.Remove(tmp.Name())
		if out, err := exec.CommandContext(ctx, "docker", "save", "-o", tmp.Name(), image).CombinedOutput(); err != nil {
			t.Fatalf("private dockerd: docker save %s on the host engine: %v: %s", image, err, out)
		}
		if err := os.Rename(tmp.Name(), tarball); err != nil {
			t.Fatal(err)
		}
		// Tarballs of earlier builds of the image are not used again.
		old, _ := filepath.Glob(filepath.Join(imageCacheDir, name+"-*.tar"))
		for _, f := range old {
			if f != tarball {
				_ = os.Remove(f)
			}
		}
	}
	if _, err := d.cli(ctx, "load", "-q", "-i", tarball); err != nil {
		t.Fatalf("private dockerd: %v", err)
	}
	got, err := d.cli(ctx, "image", "inspect", "-f", "{{.Id}}", image)
	if err != nil || strings.TrimSpace(got) != id {
		t.Fatalf("private dockerd: %s loaded as %q, want %s (%v)", image, strings.TrimSpace(got), id, err)
	}
	t.Logf("private dockerd: loaded %s in %s (%s cache %s)", image, time.Since(began).Round(time.Millisecond), cached, tarball)
}

// cleanup removes the daemon's containers, stops it, and removes whatever
// is left of it: processes, mounts, cgroups and its directory.
func (d *PrivateDaemon) cleanup() {
	if d.running() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		if ids, err := d.cli(ctx, "ps", "-aq"); err == nil && strings.TrimSpace(ids) != "" {
			if _, err := d.cli(ctx, append([]string{"rm", "-f"}, strings.Fields(ids)...)...); err != nil {
				d.t.Errorf("private dockerd: remove its containers: %v", err)
			}
		}
		cancel()
		if err := d.signal(syscall.SIGTERM, stopTimeout); err != nil {
			d.t.Errorf("private dockerd: stop: %v", err)
		}
	}
	if d.ping != nil {
		_ = d.ping.Close()
	}
	if d.t.Failed() {
		// The engine's side of a failure is evidence: keep its log.
		kept := filepath.Join(os.TempDir(), "fastflow-private-dockerd-"+filepath.Base(d.dir)+".log")
		if b, err := os.ReadFile(d.logPath); err == nil && os.WriteFile(kept, b, 0o644) == nil {
			d.t.Logf("private dockerd: its log is kept in %s", kept)
		}
	}
	if err := d.scrub(); err != nil {
		d.t.Errorf("private dockerd: clean up %s: %v", d.dir, err)
	}
	if err := os.RemoveAll(d.dir); err != nil {
		d.t.Errorf("private dockerd: %v", err)
	}
}

// scrub kills what still runs of the daemon (container processes first,
// then containerd-shims and containerd), unmounts what is mounted under
// its directory and removes its cgroups. The data root is removed, the
// directory itself kept.
func (d *PrivateDaemon) scrub() error {
	var errs []error
	for _, pid := range d.Processes() {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	var pids []int
	var sockets []string
	for _, p := range d.ownProcesses() {
		_ = syscall.Kill(p.pid, syscall.SIGKILL)
		pids = append(pids, p.pid)
		if s := shimSocket(p.cmdline); s != "" {
			sockets = append(sockets, s)
		}
	}
	pids = append(pids, d.Processes()...)
	deadline := time.Now().Add(10 * time.Second)
	for _, pid := range pids {
		for alive(pid) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if alive(pid) {
			errs = append(errs, fmt.Errorf("process %d does not die", pid))
		}
	}
	// A shim removes its socket when it exits, not when it is killed; the
	// socket is in the host's /run/containerd/s, named for our daemon.
	for _, s := range sockets {
		if err := os.Remove(s); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	errs = append(errs, unmountUnder(d.dir))
	for _, root := range cgroupRoots(d.cgroup) {
		errs = append(errs, removeCgroup(root))
	}
	errs = append(errs, os.RemoveAll(filepath.Join(d.dir, "data")), os.RemoveAll(filepath.Join(d.dir, "exec")))
	return errors.Join(errs...)
}

type process struct {
	pid     int
	cmdline string
}

// ownProcesses are the processes whose command line names the daemon's
// directory: dockerd, its containerd and the containerd-shims, which all
// take a path under it. The directory's name is unique, so nothing else
// matches.
func (d *PrivateDaemon) ownProcesses() []process {
	entries, _ := os.ReadDir("/proc")
	var ps []process
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		cmdline := string(bytes.ReplaceAll(b, []byte{0}, []byte{' '}))
		if strings.Contains(cmdline, d.dir+"/") {
			ps = append(ps, process{pid, cmdline})
		}
	}
	return ps
}

// containerdPID is the pid dockerd recorded for its containerd, or 0.
func (d *PrivateDaemon) containerdPID() int {
	b, err := os.ReadFile(filepath.Join(d.dir, "exec", "containerd", "containerd.pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

func (d *PrivateDaemon) containerdAlive() bool {
	for _, p := range d.ownProcesses() {
		if strings.HasPrefix(p.cmdline, "containerd ") {
			return true
		}
	}
	return false
}

// shimSocket is the socket of the containerd-shim with this command line
// ("" for another process): containerd 1.6's shims listen on
// /run/containerd/s/<sha256 of address/namespace/id>.
func shimSocket(cmdline string) string {
	f := strings.Fields(cmdline)
	if len(f) == 0 || !strings.HasPrefix(filepath.Base(f[0]), "containerd-shim") {
		return ""
	}
	arg := func(name string) string {
		if i := slices.Index(f, name); i >= 0 && i+1 < len(f) {
			return f[i+1]
		}
		return ""
	}
	address, ns, id := arg("-address"), arg("-namespace"), arg("-id")
	if address == "" || ns == "" || id == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(filepath.Join(address, ns, id)))
	return filepath.Join("/run/containerd/s", hex.EncodeToString(sum[:]))
}

// alive reports whether pid runs (a zombie counts as gone).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name in parentheses.
	_, rest, _ := strings.Cut(string(b), ") ")
	return !strings.HasPrefix(rest, "Z")
}

// processIdentity names a process by pid and start time, so a reused pid
// is not mistaken for the owner of a stale daemon directory.
func processIdentity(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	f := strings.Fields(rest)
	if len(f) < 20 {
		return ""
	}
	// Field 22 of stat, the start time; rest begins at field 3.
	return strconv.Itoa(pid) + " " + f[19]
}

// sweepStale cleans up the private daemons of test processes that died
// without their cleanup (a -timeout panic, a SIGKILL): their owner no
// longer runs.
func sweepStale(t testing.TB) {
	entries, _ := os.ReadDir(privateRoot)
	for _, e := range entries {
		dir := filepath.Join(privateRoot, e.Name())
		owner, err := os.ReadFile(filepath.Join(dir, "owner"))
		if err == nil {
			pid, _, _ := strings.Cut(string(owner), " ")
			if n, err := strconv.Atoi(pid); err == nil && processIdentity(n) == string(owner) {
				continue // its test still runs
			}
		} else if info, err := e.Info(); err != nil || time.Since(info.ModTime()) < time.Minute {
			continue // being set up right now
		}
		stale := &PrivateDaemon{t: t, dir: dir, cgroup: cgroupPrefix + e.Name()}
		if err := errors.Join(stale.scrub(), os.RemoveAll(dir)); err != nil {
			t.Logf("private dockerd: sweeping the stale %s: %v", dir, err)
		} else {
			t.Logf("private dockerd: swept the stale %s", dir)
		}
	}
}

// unmountUnder detaches every mount at or below dir, deepest first.
func unmountUnder(dir string) error {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	defer f.Close()
	var points []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		p := unescapeMount(fields[4])
		if p == dir || strings.HasPrefix(p, dir+"/") {
			points = append(points, p)
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	slices.SortFunc(points, func(a, b string) int { return len(b) - len(a) })
	var errs []error
	for _, p := range points {
		if err := syscall.Unmount(p, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// cgroupRoots are the directories of cgroup parent name in every mounted
// hierarchy: one per controller under cgroup v1, one under v2.
func cgroupRoots(name string) []string {
	var roots []string
	for _, pattern := range []string{"/sys/fs/cgroup/" + name, "/sys/fs/cgroup/*/" + name} {
		m, _ := filepath.Glob(pattern)
		roots = append(roots, m...)
	}
	return roots
}

// removeCgroup removes an emptied cgroup tree, children first (cgroupfs
// removes a directory only once nothing is in it).
func removeCgroup(root string) error {
	var dirs []string
	_ = filepath.WalkDir(root, func(path string, e fs.DirEntry, err error) error {
		if err == nil && e.IsDir() {
			dirs = append(dirs, path)
		}
		return nil
	})
	var errs []error
	for _, dir := range slices.Backward(dirs) {
		if err := syscall.Rmdir(dir); err != nil && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Errorf("remove cgroup %s: %w", dir, err))
		}
	}
	return errors.Join(errs...)
}
