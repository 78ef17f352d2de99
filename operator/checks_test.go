package operator

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fastflow-dev/fastflow/runtime/fake"
	"github.com/fastflow-dev/fastflow/status"
	"github.com/fastflow-dev/fastflow/status/checks"
)

// recordingGitHub is an httptest GitHub that accepts check runs and keeps
// what it received.
type recordingGitHub struct {
	mu    sync.Mutex
	calls []checkCall
	next  int64
}

type checkCall struct {
	Method, Path string
	Body         map[string]any
}

func (g *recordingGitHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var body map[string]any
	_ = json.Unmarshal(b, &body)
	g.mu.Lock()
	g.calls = append(g.calls, checkCall{r.Method, r.URL.Path, body})
	g.next++
	id := g.next
	g.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if r.Method == "POST" {
		w.WriteHeader(http.StatusCreated)
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"id": id, "name": body["name"]})
}

func (g *recordingGitHub) snapshot() []checkCall {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]checkCall(nil), g.calls...)
}

// TestCheckRunsReported: a commit with a broken pipeline.json gets a failing
// fastflow/validate check run with an annotation on that file while the
// other pipelines run, and a run is reported in_progress, then completed.
func TestCheckRunsReported(t *testing.T) {
	gh := &recordingGitHub{}
	api := httptest.NewServer(gh)
	defer api.Close()
	rep, err := checks.New(checks.Config{Owner: "acme", Repo: "pipelines", APIURL: api.URL, BaseURL: "https://ff.example.com",
		Token: func(context.Context) (string, error) { return "ghs_test", nil }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rep.Run(ctx) }()
	defer func() { cancel(); <-done }()

	env := newFakeEnv(t, map[string]string{
		"hello/main.py":        "print('hi')\n",
		"broken/main.py":       "print('never')\n",
		"broken/pipeline.json": `{"timout": 5}`,
	}, map[string]fake.Program{}, func(c *Config) { c.Checks = rep })
	r := env.finalAfter(env.startRun(RunRequest{Pipeline: "hello"}).ID, 100*time.Millisecond, time.Minute)
	if r.Status != status.RunSuccess {
		t.Fatalf("hello ended %s", r.Status)
	}

	var validate, started, completed *checkCall
	env.waitFor("check runs delivered", 20*time.Second, func() bool {
		validate, started, completed = nil, nil, nil
		for _, c := range gh.snapshot() {
			switch {
			case c.Method == "POST" && c.Body["name"] == "fastflow/validate":
				validate = &c
			case c.Method == "POST" && c.Body["name"] == "fastflow/hello":
				started = &c
			case c.Method == "PATCH" && c.Body["conclusion"] != nil && c.Body["status"] == "completed":
				completed = &c
			}
		}
		return validate != nil && started != nil && completed != nil
	})
	if validate.Body["conclusion"] != "failure" || validate.Body["head_sha"] != env.op.Snapshot().Revision {
		t.Errorf("validate check run = %v", validate.Body)
	}
	out, _ := validate.Body["output"].(map[string]any)
	anns, _ := out["annotations"].([]any)
	if len(anns) != 1 || !strings.Contains(toJSON(anns[0]), "broken/pipeline.json") || !strings.Contains(toJSON(anns[0]), "timout") {
		t.Errorf("annotations = %v, want one on broken/pipeline.json naming the typo", anns)
	}
	if started.Body["status"] != "in_progress" || started.Body["head_sha"] != r.Revision || started.Body["external_id"] != r.ID ||
		!strings.HasSuffix(toJSON(started.Body["details_url"]), "/runs/"+r.ID+`"`) {
		t.Errorf("run check run at start = %v", started.Body)
	}
	if completed.Body["conclusion"] != "success" {
		t.Errorf("run check run at the end = %v", completed.Body)
	}
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
