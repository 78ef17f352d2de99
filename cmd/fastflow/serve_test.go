package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fastflow-dev/fastflow/repo/gittest"
	"github.com/fastflow-dev/fastflow/webui"
)

// TestServeFollowsTheRepository runs the real server against a real Git
// repository and SQLite: the branch tip is published, a new commit goes
// live within one poll interval, a broken remote keeps the last revision
// live and /health says why, and a force-push back is followed.
func TestServeFollowsTheRepository(t *testing.T) {
	remote := gittest.New(t)
	first := remote.Commit("first", map[string]string{"hello/main.py": "print('hi')\n"})

	data := t.TempDir()
	cfg, err := configFrom(env{
		"DATA_DIR":           data,
		"GIT_REPO_URL":       remote.Dir,
		"AUTO_SYNC_INTERVAL": "300ms",
		"LISTEN_ADDR":        "127.0.0.1:0",
		// A daemon that is not there: /health must still answer.
		"DOCKER_HOST": "unix://" + filepath.Join(t.TempDir(), "no-docker.sock"),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serveWith(ctx, cfg, slog.New(slog.DiscardHandler), ready) }()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("serve stopped before listening: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve returned %v on a clean stop", err)
		}
	})

	health := func() (int, webui.Health) {
		resp, err := http.Get("http://" + addr + "/health")
		if err != nil {
			t.Fatalf("GET /health: %v", err)
		}
		defer resp.Body.Close()
		var h webui.Health
		if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
			t.Fatalf("decode /health: %v", err)
		}
		return resp.StatusCode, h
	}
	live := func() string {
		target, _ := os.Readlink(filepath.Join(data, "pipelines"))
		return filepath.Base(target)
	}
	waitFor := func(what string, within time.Duration, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(within)
		for !cond() {
			if time.Now().After(deadline) {
				code, h := health()
				t.Fatalf("%s: not within %s; live=%s, /health %d %+v", what, within, live(), code, h)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	waitFor("initial sync", 10*time.Second, func() bool { return live() == first })
	code, h := health()
	if code != http.StatusOK || h.Sync.Revision != first || h.Sync.Pipelines != 1 || h.Sync.LastSyncAt == nil {
		t.Errorf("/health after first sync = %d %+v", code, h)
	}
	if db := h.Checks["database"]; !db.OK {
		t.Errorf("database check = %+v, want ok", db)
	}
	if d := h.Checks["docker"]; d.OK || d.Error == "" || h.Status != "degraded" {
		t.Errorf("docker check = %+v, status %s; want a failed non-critical check", d, h.Status)
	}

	second := remote.Commit("second", map[string]string{"world/main.py": "print('world')\n"})
	waitFor("new commit live", cfg.AutoSyncInterval+time.Second, func() bool { return live() == second })

	// The remote goes away: the last good revision stays live and /health
	// reports the failure.
	moved := remote.Dir + ".moved"
	if err := os.Rename(remote.Dir, moved); err != nil {
		t.Fatal(err)
	}
	waitFor("failed sync reported", 5*time.Second, func() bool {
		_, h := health()
		return h.Sync.Outcome == "failed"
	})
	code, h = health()
	if code != http.StatusOK || h.Sync.Error == "" || h.Sync.Revision != second || live() != second {
		t.Errorf("after the remote broke: /health %d %+v, live %s; want revision %s and the error", code, h, live(), second)
	}

	if err := os.Rename(moved, remote.Dir); err != nil {
		t.Fatal(err)
	}
	remote.ForcePush(first)
	waitFor("force-push followed", 5*time.Second, func() bool { return live() == first })
	waitFor("healthy again", 5*time.Second, func() bool {
		_, h := health()
		return h.Sync.Error == "" && h.Sync.Revision == first
	})

	resp, err := http.Get(fmt.Sprintf("http://%s/no-such-page", addr))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown path answered %d, want 404", resp.StatusCode)
	}
}
