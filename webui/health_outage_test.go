package webui

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/fastflow-dev/fastflow/internal/testenv"
	"github.com/fastflow-dev/fastflow/repo"
	"github.com/fastflow-dev/fastflow/status/sqlstore"
)

// getHealth asks srv for /health and decodes the answer.
func getHealth(t *testing.T, srv http.Handler) (int, Health, time.Duration) {
	t.Helper()
	rec := httptest.NewRecorder()
	start := time.Now()
	srv.ServeHTTP(rec, httptest.NewRequest("GET", "/health", nil))
	took := time.Since(start)
	var h Health
	if err := json.Unmarshal(rec.Body.Bytes(), &h); err != nil {
		t.Fatalf("/health answered %d %q: %v", rec.Code, rec.Body, err)
	}
	return rec.Code, h, took
}

// codeOf is the status code srv answers for method path with a bearer
// token.
func codeOf(srv http.Handler, method, path, token string) int {
	rec := httptest.NewRecorder()
	r := httptest.NewRequest(method, path, nil)
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	srv.ServeHTTP(rec, r)
	return rec.Code
}

// TestHealthStoreAway: with the database not answering, /health says
// degraded (200, the database check failed and marked critical), never ok
// and never a 5xx; /readyz turns load away; /healthz still answers. A
// failing probe stands in for the store here; TestHealthPostgresStopped
// stops a real one.
func TestHealthStoreAway(t *testing.T) {
	t.Parallel()
	op, store := newIdleOperator(t)
	op.state.Live = &repo.Snapshot{Revision: "3f2c0000000000000000000000000000000000aa"}
	op.state.Last.FinishedAt = time.Now()
	close(op.ready)
	srv, err := New(Config{Operator: op, Store: store, Checks: []Check{
		{Name: "database", Critical: true, Probe: func(context.Context) error { return errors.New("dial tcp 127.0.0.1:5432: connection refused") }},
	}})
	if err != nil {
		t.Fatal(err)
	}
	code, h, _ := getHealth(t, srv)
	if code != http.StatusOK || h.Status != "degraded" {
		t.Errorf("/health = %d %q, want 200 degraded", code, h.Status)
	}
	if db := h.Checks["database"]; db.OK || !db.Critical || db.Error == "" {
		t.Errorf("database check %+v, want failed, critical, with the error", db)
	}
	if c := codeOf(srv, "GET", "/readyz", ""); c != http.StatusServiceUnavailable {
		t.Errorf("/readyz = %d, want 503", c)
	}
	if c := codeOf(srv, "GET", "/healthz", ""); c != http.StatusOK {
		t.Errorf("/healthz = %d, want 200", c)
	}
}

// TestHealthPostgresStopped is TestHealthStoreAway with a PostgreSQL
// cluster of the test's own, stopped and started again: degraded while it
// is away, within the probe timeout, and ok once it is back; an API
// request meanwhile is 503, not 500.
func TestHealthPostgresStopped(t *testing.T) {
	pg := testenv.PrivatePostgres(t)
	ctx := context.Background()
	store, err := sqlstore.Open(ctx, sqlstore.Config{DatabaseURL: pg.URL})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	token := addAPIToken(t, store)
	op := newFakeOperator()
	op.state.Live = &repo.Snapshot{Revision: "3f2c0000000000000000000000000000000000aa"}
	op.state.Last.FinishedAt = time.Now()
	close(op.ready)
	srv, err := New(Config{Operator: op, Store: store, ProbeTimeout: 2 * time.Second,
		Checks: []Check{{Name: "database", Critical: true, Probe: store.Ping}}})
	if err != nil {
		t.Fatal(err)
	}
	if code, h, _ := getHealth(t, srv); code != http.StatusOK || h.Status != "ok" {
		t.Fatalf("/health with the database up = %d %+v, want 200 ok", code, h)
	}
	if c := codeOf(srv, "GET", "/api/runs", token); c != http.StatusOK {
		t.Fatalf("/api/runs with the database up = %d", c)
	}

	pg.Stop()
	code, h, took := getHealth(t, srv)
	t.Logf("/health with PostgreSQL stopped: %d %q in %s, database: %+v", code, h.Status, took, h.Checks["database"])
	if code != http.StatusOK || h.Status != "degraded" || h.Checks["database"].OK {
		t.Errorf("/health with PostgreSQL stopped = %d %q %+v, want 200 degraded with the database failing", code, h.Status, h.Checks["database"])
	}
	if took > 3*time.Second {
		t.Errorf("/health took %s with the database away, want within the probe timeout", took)
	}
	if c := codeOf(srv, "GET", "/readyz", ""); c != http.StatusServiceUnavailable {
		t.Errorf("/readyz with PostgreSQL stopped = %d, want 503", c)
	}
	if c := codeOf(srv, "GET", "/api/runs", token); c != http.StatusServiceUnavailable {
		t.Errorf("/api/runs with PostgreSQL stopped = %d, want 503", c)
	}

	pg.Start()
	deadline := time.Now().Add(15 * time.Second)
	for {
		code, h, _ := getHealth(t, srv)
		if code == http.StatusOK && h.Status == "ok" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/health 15 s after PostgreSQL is back = %d %+v, want ok", code, h)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if c := codeOf(srv, "GET", "/api/runs", token); c != http.StatusOK {
		t.Errorf("/api/runs once PostgreSQL is back = %d, want 200", c)
	}
}
