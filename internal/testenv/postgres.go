package testenv

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"
)

// Postgres is a PostgreSQL cluster of a test's own, on a port of its own,
// so the test can stop and start it (a database outage) without touching
// the shared server other tests use.
type Postgres struct {
	// URL reaches the cluster as its superuser, over TCP on loopback.
	URL string

	t      testing.TB
	bin    string
	dir    string
	port   int
	runAs  string
	logger string
}

// PrivatePostgres initdb's a cluster in a temporary folder and starts it;
// it is stopped and removed when t ends. A machine without the server
// binaries skips (fails under CI=true). As root, the cluster runs as the
// postgres user, since the server refuses to run as root.
func PrivatePostgres(t testing.TB) *Postgres {
	t.Helper()
	bin, err := postgresBin()
	Require(t, "PostgreSQL server binaries (initdb, pg_ctl)", err)
	p := &Postgres{t: t, bin: bin}
	if os.Geteuid() == 0 {
		if _, err := user.Lookup("postgres"); err != nil {
			Require(t, "a postgres user to run a private cluster as", err)
		}
		p.runAs = "postgres"
	}
	base, err := os.MkdirTemp("", "fastflow-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	p.dir, p.logger = filepath.Join(base, "data"), filepath.Join(base, "server.log")
	if p.runAs != "" {
		if out, err := exec.Command("chown", p.runAs, base).CombinedOutput(); err != nil {
			t.Fatalf("chown %s: %v: %s", base, err, out)
		}
	}
	p.port, err = freePort()
	if err != nil {
		t.Fatal(err)
	}
	if out, err := p.cmd("initdb", "-D", p.dir, "-U", "postgres", "-A", "trust", "--no-sync").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v: %s", err, out)
	}
	p.URL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", p.port)
	p.Start()
	t.Cleanup(func() { _ = p.cmd("pg_ctl", "-D", p.dir, "-m", "immediate", "-w", "stop").Run() })
	return p
}

// Start starts the cluster and waits until it takes connections.
func (p *Postgres) Start() {
	p.t.Helper()
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off", p.port, filepath.Dir(p.dir))
	if out, err := p.cmd("pg_ctl", "-D", p.dir, "-l", p.logger, "-o", opts, "-w", "-t", "60", "start").CombinedOutput(); err != nil {
		log, _ := os.ReadFile(p.logger)
		p.t.Fatalf("pg_ctl start: %v: %s\n%s", err, out, log)
	}
}

// Stop shuts the cluster down at once, dropping every connection: the
// outage a crashed or restarted database server is.
func (p *Postgres) Stop() {
	p.t.Helper()
	if out, err := p.cmd("pg_ctl", "-D", p.dir, "-m", "fast", "-w", "stop").CombinedOutput(); err != nil {
		p.t.Fatalf("pg_ctl stop: %v: %s", err, out)
	}
}

func (p *Postgres) cmd(name string, args ...string) *exec.Cmd {
	path := filepath.Join(p.bin, name)
	if p.runAs != "" {
		return exec.Command("runuser", append([]string{"-u", p.runAs, "--", path}, args...)...)
	}
	return exec.Command(path, args...)
}

// postgresBin finds the newest installed server's binaries (Debian keeps
// one folder per major version), or those on PATH.
func postgresBin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("initdb not found (Debian package postgresql)")
}

func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// freePort asks the kernel for a loopback port nobody listens on.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	// A moment for the port to be free again for the server.
	time.Sleep(10 * time.Millisecond)
	return l.Addr().(*net.TCPAddr).Port, nil
}
