package webui

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/fastflow-dev/fastflow/operator"
	"github.com/fastflow-dev/fastflow/repo"
	"github.com/fastflow-dev/fastflow/status"
	"github.com/fastflow-dev/fastflow/status/sqlstore"
)

// newIdleOperator is an operator that has not synced yet (no revision
// live, not ready), beside an unmigrated SQLite store.
func newIdleOperator(t *testing.T) (*fakeOperator, status.Store) {
	t.Helper()
	store, err := sqlstore.Open(context.Background(), sqlstore.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return newFakeOperator(), store
}

func TestHealthStatus(t *testing.T) {
	t.Parallel()
	up := func(context.Context) error { return nil }
	down := func(context.Context) error { return errors.New("connection refused") }
	tests := []struct {
		name       string
		checks     []Check
		wantCode   int
		wantStatus string
		wantReady  int
	}{
		{
			name:       "nothing published yet is degraded, not ready",
			checks:     []Check{{Name: "database", Critical: true, Probe: up}},
			wantCode:   http.StatusOK,
			wantStatus: "degraded",
			wantReady:  http.StatusServiceUnavailable,
		},
		{
			// The server still serves, and the operator retries what
			// it must store: degraded, but not ready for new users.
			name:       "critical dependency down is degraded and not ready",
			checks:     []Check{{Name: "database", Critical: true, Probe: down}, {Name: "docker", Probe: up}},
			wantCode:   http.StatusOK,
			wantStatus: "degraded",
			wantReady:  http.StatusServiceUnavailable,
		},
		{
			name:       "optional dependency down is degraded",
			checks:     []Check{{Name: "database", Critical: true, Probe: up}, {Name: "docker", Probe: down}},
			wantCode:   http.StatusOK,
			wantStatus: "degraded",
			wantReady:  http.StatusServiceUnavailable,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			op, store := newIdleOperator(t)
			srv, err := New(Config{Operator: op, Store: store, Checks: tt.checks})
			if err != nil {
				t.Fatal(err)
			}
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, httptest.NewRequest("GET", "/health", nil))
			var h Health
			if err := json.Unmarshal(rec.Body.Bytes(), &h); err != nil {
				t.Fatalf("decode: %v\n%s", err, rec.Body)
			}
			if rec.Code != tt.wantCode || h.Status != tt.wantStatus {
				t.Errorf("/health = %d %q, want %d %q", rec.Code, h.Status, tt.wantCode, tt.wantStatus)
			}
			for _, c := range tt.checks {
				res, ok := h.Checks[c.Name]
				if !ok || res.Critical != c.Critical || res.OK == (c.Probe(context.Background()) != nil) {
					t.Errorf("check %s reported as %+v", c.Name, res)
				}
			}
			if h.Sync.Revision != "" || h.Sync.LastSyncAt != nil {
				t.Errorf("sync before any sync = %+v", h.Sync)
			}

			rec = httptest.NewRecorder()
			srv.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
			if rec.Code != tt.wantReady {
				t.Errorf("/readyz = %d, want %d", rec.Code, tt.wantReady)
			}
			rec = httptest.NewRecorder()
			srv.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
			if rec.Code != http.StatusOK {
				t.Errorf("/healthz = %d, want 200 while the process serves", rec.Code)
			}
		})
	}
}

func TestUnknownRoutesAnswerJSON404(t *testing.T) {
	t.Parallel()
	op, store := newIdleOperator(t)
	srv, err := New(Config{Operator: op, Store: store})
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/nope", "/api/runs/../../etc/passwd", "/%2e%2e/"} {
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		var body apiError
		if rec.Code != http.StatusNotFound && rec.Code != http.StatusTemporaryRedirect {
			t.Errorf("%s answered %d, want 404", path, rec.Code)
		}
		if rec.Code == http.StatusNotFound {
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Error == "" {
				t.Errorf("%s: body %q is not a JSON error", path, rec.Body)
			}
		}
	}
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest("POST", "/health", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /health answered %d, want 405", rec.Code)
	}
	if allow := rec.Header().Get("Allow"); allow == "" {
		t.Errorf("405 without an Allow header")
	}
}

// TestReadyz: /readyz waits for the operator's Ready and a live revision,
// and turns away load while a critical dependency is down.
func TestReadyz(t *testing.T) {
	t.Parallel()
	up := func(context.Context) error { return nil }
	down := func(context.Context) error { return errors.New("connection refused") }
	live := &repo.Snapshot{Revision: "3f2c0000000000000000000000000000000000aa"}
	tests := []struct {
		name       string
		ready      bool
		live       *repo.Snapshot
		probe      func(context.Context) error
		wantCode   int
		wantStatus string
	}{
		{"still reconciling is starting", false, live, up, http.StatusServiceUnavailable, "starting"},
		{"ready without a revision is not ready", true, nil, up, http.StatusServiceUnavailable, "not ready"},
		{"ready with a revision and the database up is ready", true, live, up, http.StatusOK, "ready"},
		{"database down is not ready", true, live, down, http.StatusServiceUnavailable, "not ready"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			op, store := newIdleOperator(t)
			op.state.Live = tt.live
			if tt.ready {
				close(op.ready)
			}
			srv, err := New(Config{Operator: op, Store: store, Checks: []Check{{Name: "database", Critical: true, Probe: tt.probe}}})
			if err != nil {
				t.Fatal(err)
			}
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
			var body map[string]string
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("decode %q: %v", rec.Body, err)
			}
			if rec.Code != tt.wantCode || body["status"] != tt.wantStatus {
				t.Errorf("/readyz = %d %q, want %d %q", rec.Code, body["status"], tt.wantCode, tt.wantStatus)
			}
		})
	}
}

// TestHealthDisk: the free space of the operator's folders is in /health
// without their paths; a folder below MIN_FREE_DISK, or one whose space
// cannot be read, fails the non-critical disk check.
func TestHealthDisk(t *testing.T) {
	t.Parallel()
	up := func(context.Context) error { return nil }
	tests := []struct {
		name       string
		disk       []operator.DiskSpace
		wantStatus string
		wantError  string
	}{
		{"room everywhere", []operator.DiskSpace{{Name: "LOGS_DIR", Path: "/srv/secret-logs", FreeBytes: 5 << 30}, {Name: "DATA_DIR", Path: "/srv/secret-data", FreeBytes: 6 << 30}},
			"ok", ""},
		{"low logs folder", []operator.DiskSpace{{Name: "LOGS_DIR", Path: "/srv/secret-logs", FreeBytes: 50 << 20, Low: true}, {Name: "DATA_DIR", Path: "/srv/secret-data", FreeBytes: 6 << 30}},
			"degraded", "LOGS_DIR: 50 MiB free, below MIN_FREE_DISK"},
		{"unreadable folder", []operator.DiskSpace{{Name: "DATA_DIR", Path: "/srv/secret-data", Err: errors.New("statfs /srv/secret-data: permission denied")}},
			"degraded", "DATA_DIR: free space unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			op, store := newIdleOperator(t)
			op.state.Live = &repo.Snapshot{Revision: "3f2c0000000000000000000000000000000000aa"}
			op.state.Last.FinishedAt = time.Now()
			op.disk = tt.disk
			srv, err := New(Config{Operator: op, Store: store, Checks: []Check{{Name: "database", Critical: true, Probe: up}}})
			if err != nil {
				t.Fatal(err)
			}
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, httptest.NewRequest("GET", "/health", nil))
			if strings.Contains(rec.Body.String(), "/srv/secret") {
				t.Errorf("/health shows a folder's path:\n%s", rec.Body)
			}
			var h Health
			if err := json.Unmarshal(rec.Body.Bytes(), &h); err != nil {
				t.Fatal(err)
			}
			if rec.Code != http.StatusOK || h.Status != tt.wantStatus {
				t.Errorf("/health = %d %q, want 200 %q", rec.Code, h.Status, tt.wantStatus)
			}
			disk := h.Checks[diskCheck]
			if disk.OK != (tt.wantError == "") || disk.Error != tt.wantError || disk.Critical {
				t.Errorf("disk check %+v, want error %q, not critical", disk, tt.wantError)
			}
			if len(h.Disk) != len(tt.disk) || h.Disk[0].Name != tt.disk[0].Name || h.Disk[0].FreeBytes != tt.disk[0].FreeBytes || h.Disk[0].Low != tt.disk[0].Low {
				t.Errorf("disk %+v, want the operator's %+v", h.Disk, tt.disk)
			}
		})
	}
}

// TestHealthReplicas: /health names the replica answering, the leader and
// every replica with its last heartbeat, from the real operator's lease.
func TestHealthReplicas(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	var h Health
	deadline := time.Now().Add(10 * time.Second)
	for {
		if code, raw := e.do("GET", "/health", nil, &h); code != http.StatusOK {
			t.Fatalf("/health: %d %s", code, raw)
		}
		if h.Replicas.Leader != "" && len(h.Replicas.List) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/health replicas = %+v; want replica-1 leading", h.Replicas)
		}
		time.Sleep(50 * time.Millisecond)
	}
	r := h.Replicas
	if r.Self != "replica-1" || r.Leader != "replica-1" || r.Term < 1 || r.Error != "" {
		t.Errorf("replicas = %+v; want replica-1 leading itself", r)
	}
	if got := r.List[0]; got.ID != "replica-1" || got.Host != "host-1" || got.Version != "test" || !got.Leader ||
		got.LastSeen.IsZero() || got.LastSeen.Before(got.StartedAt) {
		t.Errorf("replica = %+v", got)
	}
}
