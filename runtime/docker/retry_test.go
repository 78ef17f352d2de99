package docker_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fastflow-dev/fastflow/runtime"
	"github.com/fastflow-dev/fastflow/runtime/docker"
)

// scriptedDaemon answers each route with the next scripted status code (the
// last one repeats) and counts the requests. Code 0 drops the connection
// without an answer, as a daemon that dies mid-request does.
type scriptedDaemon struct {
	mu     sync.Mutex
	script map[string][]int
	calls  map[string]int
	// created records that a create reached the daemon: the next one
	// conflicts with its container.
	created bool
}

func (d *scriptedDaemon) next(route string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls[route]++
	codes := d.script[route]
	if len(codes) == 0 {
		return http.StatusOK
	}
	code := codes[0]
	if len(codes) > 1 {
		d.script[route] = codes[1:]
	}
	return code
}

func (d *scriptedDaemon) count(route string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.calls[route]
}

func (d *scriptedDaemon) handler(runID string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/_ping", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Api-Version", "1.41")
		_, _ = w.Write([]byte("OK"))
	})
	answer := func(route string, w http.ResponseWriter, body any) {
		code := d.next(route)
		switch {
		case code == 0:
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				_ = conn.Close()
			}
		case code >= 300:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(code)
			_ = json.NewEncoder(w).Encode(map[string]string{"message": http.StatusText(code) + " (scripted)"})
		case body == nil:
			w.WriteHeader(http.StatusNoContent)
		default:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(code)
			_ = json.NewEncoder(w).Encode(body)
		}
	}
	mux.HandleFunc("POST /v1.41/containers/{id}/stop", func(w http.ResponseWriter, _ *http.Request) { answer("stop", w, nil) })
	mux.HandleFunc("DELETE /v1.41/containers/{id}", func(w http.ResponseWriter, _ *http.Request) { answer("remove", w, nil) })
	mux.HandleFunc("POST /v1.41/containers/{id}/wait", func(w http.ResponseWriter, _ *http.Request) {
		answer("wait", w, map[string]any{"StatusCode": 3})
	})
	mux.HandleFunc("POST /v1.41/containers/{id}/start", func(w http.ResponseWriter, _ *http.Request) { answer("start", w, nil) })
	mux.HandleFunc("GET /v1.41/containers/json", func(w http.ResponseWriter, _ *http.Request) {
		answer("list", w, []map[string]any{{"Id": "c1", "State": "running", "Labels": map[string]string{runtime.LabelRunID: runID}}})
	})
	mux.HandleFunc("GET /v1.41/containers/{id}/json", func(w http.ResponseWriter, _ *http.Request) {
		answer("inspect", w, map[string]any{
			"Id": "c1", "Name": "/fastflow-" + runID,
			"State":  map[string]any{"Status": "exited", "ExitCode": 3, "FinishedAt": "2026-11-27T08:00:00.5Z"},
			"Config": map[string]any{"Labels": map[string]string{runtime.LabelRunID: runID}},
		})
	})
	mux.HandleFunc("POST /v1.41/containers/create", func(w http.ResponseWriter, _ *http.Request) {
		d.mu.Lock()
		exists := d.created
		d.created = true
		d.mu.Unlock()
		if exists {
			d.next("create")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusConflict)
			_ = json.NewEncoder(w).Encode(map[string]string{"message": "Conflict. The container name is already in use"})
			return
		}
		answer("create", w, map[string]any{"Id": "c1"})
	})
	return mux
}

func TestTransientErrorsAreRetried(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		script    map[string][]int
		call      func(ctx context.Context, c *docker.Client) error
		route     string
		wantCalls int
		wantErr   error // nil: success
		wantAnErr bool
	}{
		{
			name:   "stop after two server errors",
			script: map[string][]int{"stop": {500, 503, 204}},
			call:   func(ctx context.Context, c *docker.Client) error { return c.Stop(ctx, "c1", time.Second) },
			route:  "stop", wantCalls: 3,
		},
		{
			name:   "list after a dropped connection",
			script: map[string][]int{"list": {0, 200}},
			call: func(ctx context.Context, c *docker.Client) error {
				found, err := c.List(ctx, nil)
				if err == nil && len(found) != 1 {
					return errors.New("want one container")
				}
				return err
			},
			route: "list", wantCalls: 2,
		},
		{
			name:   "remove gives up after four attempts",
			script: map[string][]int{"remove": {500}},
			call:   func(ctx context.Context, c *docker.Client) error { return c.Remove(ctx, "c1") },
			route:  "remove", wantCalls: 4, wantAnErr: true,
		},
		{
			name:   "wait after a dropped connection",
			script: map[string][]int{"wait": {0, 200}},
			call: func(ctx context.Context, c *docker.Client) error {
				st, err := c.Wait(ctx, "c1")
				if err == nil && (st.Code != 3 || !st.FinishedAt.Equal(time.Date(2026, 11, 27, 8, 0, 0, 5e8, time.UTC))) {
					return errors.New("wrong exit status")
				}
				return err
			},
			route: "wait", wantCalls: 2,
		},
		{
			name:   "not found is not retried",
			script: map[string][]int{"inspect": {404}},
			call:   func(ctx context.Context, c *docker.Client) error { _, err := c.Wait(ctx, "c1"); return err },
			route:  "inspect", wantCalls: 1, wantErr: runtime.ErrNotFound,
		},
		{
			name:   "a client error is not retried",
			script: map[string][]int{"stop": {400}},
			call:   func(ctx context.Context, c *docker.Client) error { return c.Stop(ctx, "c1", time.Second) },
			route:  "stop", wantCalls: 1, wantAnErr: true,
		},
		{
			name:   "not found on stop is success",
			script: map[string][]int{"stop": {404}},
			call:   func(ctx context.Context, c *docker.Client) error { return c.Stop(ctx, "c1", time.Second) },
			route:  "stop", wantCalls: 1,
		},
		{
			name:   "a daemon dropping every connection is unavailable",
			script: map[string][]int{"stop": {0}},
			call:   func(ctx context.Context, c *docker.Client) error { return c.Stop(ctx, "c1", time.Second) },
			route:  "stop", wantCalls: 4, wantErr: runtime.ErrUnavailable,
		},
		{
			name:   "a create whose answer was lost adopts its container",
			script: map[string][]int{"create": {500}},
			call: func(ctx context.Context, c *docker.Client) error {
				id, err := c.Start(ctx, runtime.RunSpec{RunID: "r1", Image: "img"})
				if err == nil && id != "c1" {
					return errors.New("adopted the wrong container: " + id)
				}
				return err
			},
			route: "create", wantCalls: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := &scriptedDaemon{script: tt.script, calls: map[string]int{}}
			c, err := docker.New(docker.Config{Host: serveUnix(t, d.handler("r1"))})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			docker.SetBackoff(c, 4, time.Millisecond)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err = tt.call(ctx, c)
			switch {
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Errorf("error = %v, want %v", err, tt.wantErr)
			case tt.wantErr == nil && tt.wantAnErr && err == nil:
				t.Error("error = nil, want one")
			case tt.wantErr == nil && !tt.wantAnErr && err != nil:
				t.Errorf("error = %v, want nil", err)
			}
			if err != nil && errors.Is(err, runtime.ErrUnavailable) && tt.wantErr == nil {
				t.Errorf("error %v marked unavailable, but the daemon answered", err)
			}
			if got := d.count(tt.route); got != tt.wantCalls {
				t.Errorf("%s called %d times, want %d", tt.route, got, tt.wantCalls)
			}
			if err != nil && strings.Contains(err.Error(), "%!") {
				t.Errorf("badly formatted error: %v", err)
			}
		})
	}
}
