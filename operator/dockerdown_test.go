package operator

import (
	"context"
	"errors"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fastflow-dev/fastflow/repo/gittest"
	"github.com/fastflow-dev/fastflow/runtime"
	"github.com/fastflow-dev/fastflow/runtime/docker"
	"github.com/fastflow-dev/fastflow/status"
)

// daemonProxy stands between the operator and the real Docker socket so a
// test can take "the daemon" away and bring it back without touching the
// engine other tests use.
type daemonProxy struct {
	t      *testing.T
	path   string
	target string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

func newDaemonProxy(t *testing.T) *daemonProxy {
	p := &daemonProxy{t: t, path: filepath.Join(t.TempDir(), "docker.sock"), target: "/var/run/docker.sock", conns: map[net.Conn]bool{}}
	p.up()
	t.Cleanup(p.down)
	return p
}

func (p *daemonProxy) host() string { return "unix://" + p.path }

func (p *daemonProxy) up() {
	ln, err := net.Listen("unix", p.path)
	if err != nil {
		p.t.Fatal(err)
	}
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				p.serve(c)
			}()
		}
	}()
}

func (p *daemonProxy) serve(c net.Conn) {
	d, err := net.Dial("unix", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns[c], p.conns[d] = true, true
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(d, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, d); done <- struct{}{} }()
	<-done
	c.Close()
	d.Close()
	<-done
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, d)
	p.mu.Unlock()
}

// down closes the socket and every open connection, like a dead daemon.
func (p *daemonProxy) down() {
	p.mu.Lock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// TestDockerDownAndBack takes the daemon away: new runs are refused with a
// clear error, a run in flight is not lost, and everything recovers when
// the daemon is back.
func TestDockerDownAndBack(t *testing.T) {
	requireWorkerImage(t)
	proxy := newDaemonProxy(t)
	remote := gittest.New(t)
	remote.Commit("pipelines", map[string]string{"hello/main.py": examplePipelines["hello/main.py"], "counter/main.py": counterPipeline["counter/main.py"]})
	data := t.TempDir()
	rt, err := docker.New(docker.Config{
		Host: proxy.host(), RevisionsDir: filepath.Join(data, "revisions"),
		CacheDirs: map[string]string{runtime.CacheUV: filepath.Join(data, "uv-cache")},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	env := openRunEnv(t, remote, data, rt, nil)
	ctx := context.Background()

	r, err := env.op.RunPipeline(ctx, RunRequest{Pipeline: "counter"})
	if err != nil {
		t.Fatal(err)
	}
	env.waitFor("counter printing", 60*time.Second, func() bool {
		got, err := env.store.GetRun(ctx, r.ID)
		return err == nil && got.Status == status.RunRunning && len(env.logText(got)) >= 3
	})

	proxy.down()
	start := time.Now()
	_, err = env.op.RunPipeline(ctx, RunRequest{Pipeline: "hello"})
	if !errors.Is(err, ErrRuntimeUnavailable) {
		t.Fatalf("run with the daemon down = %v, want ErrRuntimeUnavailable", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("refusing took %s; a dead daemon must be noticed quickly", took)
	}
	if !strings.Contains(err.Error(), "unavailable") {
		t.Errorf("error %q does not say the runtime is unavailable", err)
	}
	time.Sleep(2 * time.Second)
	proxy.up()

	r = env.waitFinal(r.ID, 60*time.Second)
	if r.Status != status.RunSuccess {
		t.Fatalf("run across the daemon outage ended %s (%s)", r.Status, r.Message)
	}
	lines := env.logText(r)
	if len(lines) != counterLines || lines[0] != "line 1" || lines[len(lines)-1] != "line 40" {
		t.Errorf("log across the outage has %d lines (want %d, each once):\n%s", len(lines), counterLines, strings.Join(lines, "\n"))
	}
	if after := env.run("hello", nil, nil); after.Status != status.RunSuccess {
		t.Errorf("run after recovery ended %s (%s)", after.Status, after.Message)
	}
}
