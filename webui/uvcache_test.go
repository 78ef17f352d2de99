package webui

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fastflow-dev/fastflow/operator"
	"github.com/fastflow-dev/fastflow/status"
)

// TestUVCacheOnSync: a real run builds an environment in the uv cache; the
// keeper, with a limit below it, evicts it once the run let go of the
// cache, and /api/sync/status and the sync page say so.
func TestUVCacheOnSync(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t, apiEnvOptions{docker: true, files: map[string]string{
		"deps/main.py":          "import fastflow_testpkg\nprint(fastflow_testpkg.greet('cache'))\n",
		"deps/requirements.txt": "fastflow-testpkg==1.0.0\n",
	}, opCfg: func(c *operator.Config) {
		c.PreHeat = false // the run builds the environment itself
		c.UVCache.MaxBytes, c.UVCache.MinGap = 1, time.Millisecond
	}})
	var created runJSON
	if code, body := e.do("POST", "/api/pipelines/deps/run", nil, &created); code != http.StatusCreated {
		t.Fatalf("run: %d %s", code, body)
	}
	if run := e.waitRun(created.ID, 90*time.Second); run.Status != status.RunSuccess {
		t.Fatalf("run %+v, want SUCCESS", run)
	}
	st := waitSyncStatus(t, e, 30*time.Second, func(st syncStatusJSON) bool {
		return st.UVCache != nil && st.UVCache.LastRemoved > 0
	})
	c := st.UVCache
	if c.MaxBytes != 1 || c.LastCleanupAt == nil || c.LastRemovedBytes <= 0 || c.CleanupPendingSince != nil || c.Error != "" {
		t.Errorf("uv_cache %+v; want a clean-up that freed bytes, none pending", *c)
	}
	envs, err := os.ReadDir(filepath.Join(e.uvCache, "environments"))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range envs {
		if d.IsDir() {
			t.Errorf("environment %s survived a limit of one byte", d.Name())
		}
	}
	_, _, page := getPage(t, e, "/sync", true)
	for _, want := range []string{`id="uv-cache"`, "of 1 B", "least recently used entries"} {
		if !strings.Contains(page, want) {
			t.Errorf("the sync page lacks %q:\n%s", want, page[strings.Index(page, "uv cache"):])
		}
	}
}

func waitSyncStatus(t *testing.T, e *apiEnv, within time.Duration, ok func(syncStatusJSON) bool) syncStatusJSON {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		var st syncStatusJSON
		if code, body := e.do("GET", "/api/sync/status", nil, &st); code != http.StatusOK {
			t.Fatalf("GET /api/sync/status: %d %s", code, body)
		}
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("sync status never as wanted: %+v", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
