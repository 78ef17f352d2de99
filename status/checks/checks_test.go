package checks_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fastflow-dev/fastflow/status"
	"github.com/fastflow-dev/fastflow/status/checks"
)

const (
	owner = "acme"
	repo  = "pipes"
	token = "ghs_installation"
	sha   = "0123456789abcdef0123456789abcdef01234567"
)

// checkRunBody is the JSON GitHub documents for creating and updating a
// check run. Decoding with DisallowUnknownFields pins the shape go-github
// sends.
type checkRunBody struct {
	Name        string      `json:"name"`
	HeadSHA     string      `json:"head_sha"`
	DetailsURL  *string     `json:"details_url"`
	ExternalID  *string     `json:"external_id"`
	Status      *string     `json:"status"`
	Conclusion  *string     `json:"conclusion"`
	StartedAt   *time.Time  `json:"started_at"`
	CompletedAt *time.Time  `json:"completed_at"`
	Output      *outputBody `json:"output"`
}

type outputBody struct {
	Title       string           `json:"title"`
	Summary     string           `json:"summary"`
	Text        *string          `json:"text"`
	Annotations []annotationBody `json:"annotations"`
}

type annotationBody struct {
	Path            string `json:"path"`
	StartLine       int    `json:"start_line"`
	EndLine         int    `json:"end_line"`
	AnnotationLevel string `json:"annotation_level"`
	Message         string `json:"message"`
}

type request struct {
	Method string
	Path   string
	Code   int // what the fake answered
	Body   checkRunBody
}

type answer struct {
	code   int
	header map[string]string
}

// fakeGitHub serves the check-runs endpoints under /api/v3, the way a
// GitHub Enterprise root looks, and records every request.
type fakeGitHub struct {
	t   *testing.T
	srv *httptest.Server

	mu      sync.Mutex
	reqs    []request
	answers []answer // consumed in order; empty means success
	always  *answer  // when set, answers every request
	nextID  int64
	// hold, when set, blocks each request until it is closed.
	hold chan struct{}
	seen chan struct{}
}

func newFakeGitHub(t *testing.T) *fakeGitHub {
	f := &fakeGitHub{t: t, nextID: 1000, seen: make(chan struct{}, 100)}
	mux := http.NewServeMux()
	base := "/api/v3/repos/" + owner + "/" + repo + "/check-runs"
	mux.HandleFunc("POST "+base, f.handle)
	mux.HandleFunc("PATCH "+base+"/{id}", f.handle)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("unexpected request %s %s", r.Method, r.URL.Path)
		http.NotFound(w, r)
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeGitHub) handle(w http.ResponseWriter, r *http.Request) {
	select {
	case f.seen <- struct{}{}:
	default:
	}
	f.mu.Lock()
	hold := f.hold
	f.mu.Unlock()
	if hold != nil {
		<-hold
	}
	if got := r.Header.Get("Authorization"); got != "Bearer "+token {
		f.t.Errorf("Authorization = %q, want the installation token as Bearer", got)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		f.t.Errorf("Content-Type = %q", ct)
	}
	var body checkRunBody
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		f.t.Errorf("%s %s: decode body: %v", r.Method, r.URL.Path, err)
	}

	f.mu.Lock()
	a := answer{code: http.StatusOK}
	if r.Method == http.MethodPost {
		a.code = http.StatusCreated
	}
	switch {
	case f.always != nil:
		a = *f.always
	case len(f.answers) > 0:
		a, f.answers = f.answers[0], f.answers[1:]
	}
	id := int64(0)
	if a.code < 300 {
		if r.Method == http.MethodPost {
			f.nextID++
			id = f.nextID
		} else {
			id, _ = strconv.ParseInt(r.PathValue("id"), 10, 64)
		}
	}
	f.reqs = append(f.reqs, request{Method: r.Method, Path: strings.TrimPrefix(r.URL.Path, "/api/v3"), Code: a.code, Body: body})
	f.mu.Unlock()

	for k, v := range a.header {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(a.code)
	if a.code >= 300 {
		fmt.Fprintf(w, `{"message":"fake error %d"}`, a.code)
		return
	}
	fmt.Fprintf(w, `{"id":%d,"name":%q,"head_sha":%q}`, id, body.Name, body.HeadSHA)
}

func (f *fakeGitHub) requests() []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]request(nil), f.reqs...)
}

// delivered counts the requests GitHub accepted.
func (f *fakeGitHub) delivered() int {
	n := 0
	for _, r := range f.requests() {
		if r.Code < 300 {
			n++
		}
	}
	return n
}

// fakeClock runs time virtually: every wait returns at once and moves the
// clock forward by its length, and the waits are recorded.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTimer(d time.Duration) (<-chan time.Time, func() bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	c.sleeps = append(c.sleeps, d)
	ch := make(chan time.Time, 1)
	ch <- c.now
	return ch, func() bool { return false }
}

func (c *fakeClock) waits() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

// syncBuffer is a log sink safe for the Run goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type harness struct {
	gh    *fakeGitHub
	clock *fakeClock
	logs  *syncBuffer
	rep   *checks.Reporter
}

func newHarness(t *testing.T, mod func(*checks.Config), opts ...checks.Option) *harness {
	t.Helper()
	h := &harness{gh: newFakeGitHub(t), clock: newFakeClock(), logs: &syncBuffer{}}
	cfg := checks.Config{
		Owner:   owner,
		Repo:    repo,
		APIURL:  h.gh.srv.URL + "/api/v3",
		Token:   func(context.Context) (string, error) { return token, nil },
		BaseURL: "https://ff.example.com/",
		Logger:  slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if mod != nil {
		mod(&cfg)
	}
	rep, err := checks.New(cfg, append([]checks.Option{checks.WithClock(h.clock)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	h.rep = rep
	return h
}

// start runs the reporter until the test ends.
func (h *harness) start(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.rep.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tok := func(context.Context) (string, error) { return "t", nil }
	tests := []struct {
		name    string
		cfg     checks.Config
		wantErr string
	}{
		{"minimal is valid", checks.Config{Owner: "o", Repo: "r", Token: tok}, ""},
		{"enterprise and base URL are valid", checks.Config{Owner: "o", Repo: "r", Token: tok,
			APIURL: "https://ghe.example.com/api/v3", BaseURL: "https://ff.example.com"}, ""},
		{"missing owner is refused", checks.Config{Repo: "r", Token: tok}, "owner and name"},
		{"missing token is refused", checks.Config{Owner: "o", Repo: "r"}, "token source"},
		{"relative API URL is refused", checks.Config{Owner: "o", Repo: "r", Token: tok, APIURL: "/api"}, "API URL"},
		{"bad base URL is refused", checks.Config{Owner: "o", Repo: "r", Token: tok, BaseURL: "ff.example.com"}, "BASE_URL"},
		{"negative MaxAge is refused", checks.Config{Owner: "o", Repo: "r", Token: tok, MaxAge: -time.Second}, "MaxAge"},
		{"negative queue is refused", checks.Config{Owner: "o", Repo: "r", Token: tok, QueueSize: -1}, "QueueSize"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.cfg.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate() = %v, want an error about %q", err, tt.wantErr)
			}
		})
	}
}

func problems(n int) []checks.Problem {
	var ps []checks.Problem
	for i := range n {
		ps = append(ps, checks.Problem{Path: fmt.Sprintf("p%03d/pipeline.json", i), Line: i + 1, Message: fmt.Sprintf("problem %d", i)})
	}
	return ps
}

func TestValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		problems       []checks.Problem
		wantConclusion string
		wantTitle      string
		wantBatches    []int
		wantLines      []int // start lines of the first batch
	}{
		{"no problems succeed without annotations", nil, "success", "All pipelines are valid", []int{0}, nil},
		{"120 problems fail in batches of 50, 50 and 20", problems(120), "failure", "120 problems", []int{50, 50, 20}, nil},
		{"unknown line annotates line 1 and a pathless problem is not annotated", []checks.Problem{
			{Path: "hello/pipeline.json", Message: "invalid JSON"},
			{Path: "cron/pipeline.json", Line: 7, Message: "bad schedule"},
			{Message: "symlink leaves the repository"},
		}, "failure", "3 problems", []int{2}, []int{1, 7}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, nil)
			h.start(t)
			h.rep.Validation(sha, tt.problems)
			waitFor(t, "all batches", func() bool { return h.gh.delivered() == len(tt.wantBatches) })
			waitFor(t, "an empty queue", func() bool { return h.rep.Pending() == 0 })

			reqs := h.gh.requests()
			var gotBatches []int
			for i, r := range reqs {
				gotBatches = append(gotBatches, len(r.Body.Output.Annotations))
				wantMethod, wantPath := "PATCH", fmt.Sprintf("/repos/%s/%s/check-runs/1001", owner, repo)
				if i == 0 {
					wantMethod, wantPath = "POST", fmt.Sprintf("/repos/%s/%s/check-runs", owner, repo)
					if r.Body.HeadSHA != sha || deref(r.Body.Status) != "completed" || deref(r.Body.Conclusion) != tt.wantConclusion {
						t.Errorf("create: head_sha %q status %q conclusion %q, want %s completed %s",
							r.Body.HeadSHA, deref(r.Body.Status), deref(r.Body.Conclusion), sha, tt.wantConclusion)
					}
					if r.Body.CompletedAt == nil {
						t.Error("create: completed_at missing; GitHub requires it with a conclusion")
					}
				} else if r.Body.HeadSHA != "" || r.Body.Conclusion != nil {
					t.Errorf("update %d resends head_sha or conclusion: %+v", i, r.Body)
				}
				if r.Method != wantMethod || r.Path != wantPath {
					t.Errorf("request %d = %s %s, want %s %s", i, r.Method, r.Path, wantMethod, wantPath)
				}
				if r.Body.Name != "fastflow/validate" {
					t.Errorf("request %d name = %q", i, r.Body.Name)
				}
				if r.Body.Output.Title != tt.wantTitle || r.Body.Output.Summary == "" {
					t.Errorf("request %d output title %q summary %q, want title %q and a summary", i, r.Body.Output.Title, r.Body.Output.Summary, tt.wantTitle)
				}
				for _, a := range r.Body.Output.Annotations {
					if a.AnnotationLevel != "failure" || a.StartLine != a.EndLine || a.StartLine < 1 || a.Path == "" || a.Message == "" {
						t.Errorf("bad annotation %+v", a)
					}
				}
			}
			if diff := cmp.Diff(tt.wantBatches, gotBatches); diff != "" {
				t.Errorf("annotations per request (-want +got):\n%s", diff)
			}
			if tt.wantLines != nil {
				var lines []int
				for _, a := range reqs[0].Body.Output.Annotations {
					lines = append(lines, a.StartLine)
				}
				if diff := cmp.Diff(tt.wantLines, lines); diff != "" {
					t.Errorf("start lines (-want +got):\n%s", diff)
				}
			}
			if len(reqs) == 3 && reqs[2].Body.Output.Annotations[19].Message != "problem 119" {
				t.Errorf("last annotation = %+v, want problem 119 in order", reqs[2].Body.Output.Annotations[19])
			}
		})
	}
}

func testRun(id string, st status.RunStatus) status.Run {
	start := time.Date(2026, 3, 29, 0, 59, 0, 0, time.UTC)
	return status.Run{
		ID: id, Pipeline: "hello", Status: st, Revision: sha,
		Trigger: status.TriggerManual, TriggeredBy: "alice", Attempt: 1,
		QueuedAt: start, StartedAt: start, FinishedAt: start.Add(90 * time.Second),
	}
}

func logLines(n int) []string {
	var l []string
	for i := range n {
		l = append(l, fmt.Sprintf("log line %d", i))
	}
	return l
}

func TestRunCheckRun(t *testing.T) {
	t.Parallel()
	exit := func(c int) *int { return &c }
	tests := []struct {
		name           string
		status         status.RunStatus
		errType        status.ErrorType
		exitCode       *int
		message        string
		wantConclusion string
		wantSummary    []string
	}{
		{"success", status.RunSuccess, "", exit(0), "", "success", []string{"**Status:** SUCCESS", "**Exit code:** 0", "**Duration:** 1m30s"}},
		{"failed OOM is failure", status.RunFailed, status.ErrorOOM, exit(137), "out of memory", "failure",
			[]string{"**Status:** FAILED", "**Error type:** OOM", "**Exit code:** 137", "out of memory"}},
		{"cancelled", status.RunCancelled, "", nil, "cancelled by alice", "cancelled", []string{"**Status:** CANCELLED", "cancelled by alice"}},
		{"timeout is timed_out", status.RunTimeout, "", exit(143), "timeout after 60s", "timed_out", []string{"**Status:** TIMEOUT"}},
		{"interrupted is cancelled with the reason", status.RunInterrupted, "", nil, "operator restarted", "cancelled",
			[]string{"**Status:** INTERRUPTED", "operator restarted"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, nil)
			h.start(t)
			run := testRun("01a21c2f-6501-7660-b965-43b64fa36436", status.RunRunning)
			h.rep.RunStarted(run)
			run.Status, run.ErrorType, run.ExitCode, run.Message = tt.status, tt.errType, tt.exitCode, tt.message
			h.rep.RunFinished(run, logLines(60))
			waitFor(t, "two deliveries", func() bool { return h.gh.delivered() == 2 })

			reqs := h.gh.requests()
			create, done := reqs[0], reqs[1]
			if create.Method != "POST" || create.Path != "/repos/acme/pipes/check-runs" {
				t.Fatalf("first request %s %s, want the creation", create.Method, create.Path)
			}
			if got := create.Body; got.Name != "fastflow/hello" || got.HeadSHA != sha || deref(got.Status) != "in_progress" ||
				deref(got.DetailsURL) != "https://ff.example.com/runs/"+run.ID || deref(got.ExternalID) != run.ID ||
				got.StartedAt == nil || !got.StartedAt.Equal(run.StartedAt) || got.Conclusion != nil {
				t.Errorf("creation body = %+v", got)
			}
			if done.Method != "PATCH" || done.Path != "/repos/acme/pipes/check-runs/1001" {
				t.Fatalf("second request %s %s, want the update of check run 1001", done.Method, done.Path)
			}
			if got := done.Body; deref(got.Status) != "completed" || deref(got.Conclusion) != tt.wantConclusion ||
				got.CompletedAt == nil || !got.CompletedAt.Equal(run.FinishedAt) {
				t.Errorf("completion status %q conclusion %q completed_at %v, want completed %s %v",
					deref(got.Status), deref(got.Conclusion), got.CompletedAt, tt.wantConclusion, run.FinishedAt)
			}
			out := done.Body.Output
			for _, want := range tt.wantSummary {
				if !strings.Contains(out.Summary, want) {
					t.Errorf("summary lacks %q:\n%s", want, out.Summary)
				}
			}
			if !strings.HasPrefix(out.Title, string(tt.status)) {
				t.Errorf("title = %q", out.Title)
			}
			text := deref(out.Text)
			if !strings.Contains(text, "```\nlog line 10\n") || !strings.Contains(text, "log line 59\n```") || strings.Contains(text, "log line 9\n") {
				t.Errorf("text should hold exactly lines 10..59 in a code block:\n%s", text)
			}
		})
	}
}

func TestRunFinishedWithoutStartCreatesCompleted(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.start(t)
	run := testRun("r1", status.RunFailed)
	run.ErrorType = status.ErrorSetupFailed
	h.rep.RunFinished(run, nil)
	waitFor(t, "one delivery", func() bool { return h.gh.delivered() == 1 })
	waitFor(t, "an empty queue", func() bool { return h.rep.Pending() == 0 })
	r := h.gh.requests()[0]
	if r.Method != "POST" || deref(r.Body.Status) != "completed" || deref(r.Body.Conclusion) != "failure" ||
		deref(r.Body.ExternalID) != "r1" || r.Body.Output.Text != nil {
		t.Errorf("request = %s %+v, want a completed failure without log text", r.Method, r.Body)
	}
}

func TestRetries(t *testing.T) {
	t.Parallel()
	now := newFakeClock().Now()
	tests := []struct {
		name         string
		answers      []answer
		wantCodes    []int
		wantWaits    []time.Duration
		wantLog      string
		wantDelivery bool
	}{
		{"500 then 200 is delivered after a backoff",
			[]answer{{code: 500}}, []int{500, 201}, []time.Duration{time.Second}, "", true},
		{"repeated 5xx back off exponentially",
			[]answer{{code: 502}, {code: 503}, {code: 500}}, []int{502, 503, 500, 201},
			[]time.Duration{time.Second, 2 * time.Second, 4 * time.Second}, "", true},
		{"429 honours Retry-After",
			[]answer{{code: 429, header: map[string]string{"Retry-After": "30"}}}, []int{429, 201},
			[]time.Duration{30 * time.Second}, "", true},
		{"403 with an exhausted quota waits for X-RateLimit-Reset",
			[]answer{{code: 403, header: map[string]string{"X-RateLimit-Remaining": "0",
				"X-RateLimit-Reset": strconv.FormatInt(now.Add(2*time.Minute).Unix(), 10)}}},
			[]int{403, 201}, []time.Duration{2 * time.Minute}, "", true},
		{"422 is dropped without a retry",
			[]answer{{code: 422}}, []int{422}, nil, "check run report dropped: GitHub refused it", false},
		{"404 is dropped without a retry",
			[]answer{{code: 404}}, []int{404}, nil, "GitHub refused it", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, nil)
			h.gh.answers = tt.answers
			h.rep.Validation(sha, nil)
			h.start(t)
			waitFor(t, "every answer", func() bool { return len(h.gh.requests()) == len(tt.wantCodes) })
			waitFor(t, "an empty queue", func() bool { return h.rep.Pending() == 0 })
			var codes []int
			for _, r := range h.gh.requests() {
				codes = append(codes, r.Code)
			}
			if diff := cmp.Diff(tt.wantCodes, codes); diff != "" {
				t.Errorf("answers (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantWaits, h.clock.waits()); diff != "" {
				t.Errorf("waits (-want +got):\n%s", diff)
			}
			if tt.wantLog != "" && !strings.Contains(h.logs.String(), tt.wantLog) {
				t.Errorf("log lacks %q:\n%s", tt.wantLog, h.logs.String())
			}
		})
	}
}

func TestTokenErrorIsRetried(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	calls := 0
	h := newHarness(t, func(c *checks.Config) {
		c.Token = func(context.Context) (string, error) {
			mu.Lock()
			defer mu.Unlock()
			calls++
			if calls == 1 {
				return "", fmt.Errorf("token endpoint unreachable")
			}
			return token, nil
		}
	})
	h.start(t)
	h.rep.Validation(sha, nil)
	waitFor(t, "the delivery", func() bool { return h.gh.delivered() == 1 })
	if diff := cmp.Diff([]time.Duration{time.Second}, h.clock.waits()); diff != "" {
		t.Errorf("waits (-want +got):\n%s", diff)
	}
}

func TestCompletionWaitsForCreation(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.gh.answers = []answer{{code: 500}, {code: 502}}
	run := testRun("r1", status.RunRunning)
	h.rep.RunStarted(run)
	run.Status = status.RunSuccess
	h.rep.RunFinished(run, []string{"done"})
	h.start(t)
	waitFor(t, "two deliveries", func() bool { return h.gh.delivered() == 2 })
	var got []string
	for _, r := range h.gh.requests() {
		got = append(got, fmt.Sprintf("%s %d %s", r.Method, r.Code, deref(r.Body.Status)))
	}
	want := []string{"POST 500 in_progress", "POST 502 in_progress", "POST 201 in_progress", "PATCH 200 completed"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

func TestOtherRunsDoNotWaitForABackoff(t *testing.T) {
	t.Parallel()
	// A report of another run is sent while the first one waits out its
	// backoff; only a rate limit holds everyone back.
	h := newHarness(t, nil, checks.WithBackoff(time.Minute, time.Minute))
	h.gh.answers = []answer{{code: 500}}
	h.rep.RunStarted(testRun("a", status.RunRunning))
	h.rep.RunStarted(testRun("b", status.RunRunning))
	h.start(t)
	waitFor(t, "two deliveries", func() bool { return h.gh.delivered() == 2 })
	var got []string
	for _, r := range h.gh.requests() {
		got = append(got, fmt.Sprintf("%s %d", deref(r.Body.ExternalID), r.Code))
	}
	if diff := cmp.Diff([]string{"a 500", "b 201", "a 201"}, got); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

func TestUndeliverableReportIsDroppedAfterMaxAge(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *checks.Config) { c.MaxAge = time.Minute },
		checks.WithBackoff(time.Second, 10*time.Second))
	h.gh.mu.Lock()
	h.gh.always = &answer{code: 503}
	h.gh.mu.Unlock()
	h.start(t)
	h.rep.Validation(sha, problems(3))
	// Pending drops to 0 as soon as the report is taken for delivery, so
	// wait for the drop itself.
	waitFor(t, "the drop", func() bool {
		return strings.Contains(h.logs.String(), "check run report dropped: not delivered within MaxAge")
	})
	if h.rep.Pending() != 0 {
		t.Errorf("%d reports still pending after the drop", h.rep.Pending())
	}
	var waited time.Duration
	for _, w := range h.clock.waits() {
		waited += w
	}
	if n := len(h.gh.requests()); n < 3 || n > 12 || waited > time.Minute {
		t.Errorf("%d attempts over %s, want a handful within MaxAge", n, waited)
	}

	// The reporter keeps working for the next report.
	h.gh.mu.Lock()
	h.gh.always = nil
	h.gh.mu.Unlock()
	h.rep.Validation(sha, nil)
	waitFor(t, "the next delivery", func() bool { return h.gh.delivered() == 1 })
}

func TestEnqueueNeverBlocks(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *checks.Config) { c.QueueSize = 3 })
	release := make(chan struct{})
	h.gh.hold = release
	h.start(t)
	h.rep.Validation("first", nil)
	<-h.gh.seen // the first report is on the wire and GitHub hangs

	begin := time.Now()
	for i := range 20 {
		h.rep.Validation(fmt.Sprintf("sha%02d", i), nil)
		h.rep.RunFinished(testRun(fmt.Sprintf("run%02d", i), status.RunSuccess), logLines(100))
	}
	if took := time.Since(begin); took > time.Second {
		t.Errorf("40 enqueues took %s while GitHub hung", took)
	}
	if got := h.rep.Pending(); got != 3 {
		t.Errorf("Pending() = %d, want the queue bound 3", got)
	}
	if n := strings.Count(h.logs.String(), "check run report dropped: queue full"); n != 38 {
		t.Errorf("%d queue-full warnings, want 38:\n%s", n, h.logs.String())
	}
	close(release)
	waitFor(t, "the kept reports", func() bool { return h.gh.delivered() == 3 })
	var got []string
	for _, r := range h.gh.requests() {
		got = append(got, r.Body.HeadSHA+"/"+deref(r.Body.ExternalID))
	}
	want := []string{"first/", "sha19/", sha + "/run19"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("delivered (-want +got):\n%s", diff)
	}
}

func TestShutdownDrains(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.rep.RunFinished(testRun("r1", status.RunInterrupted), nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := h.rep.Run(ctx); err != nil {
		t.Fatalf("Run = %v", err)
	}
	if got := h.gh.delivered(); got != 1 {
		t.Errorf("%d deliveries during the drain, want 1", got)
	}
	if err := h.rep.Run(ctx); err == nil {
		t.Error("second Run succeeded, want an error")
	}
}

func TestShutdownDrainIsBounded(t *testing.T) {
	t.Parallel()
	gh := newFakeGitHub(t)
	gh.always = &answer{code: 500}
	logs := &syncBuffer{}
	rep, err := checks.New(checks.Config{
		Owner: owner, Repo: repo, APIURL: gh.srv.URL + "/api/v3",
		Token:  func(context.Context) (string, error) { return token, nil },
		Logger: slog.New(slog.NewTextHandler(logs, nil)),
		MaxAge: 2 * time.Hour,
	}, checks.WithBackoff(time.Hour, time.Hour), checks.WithDrainTimeout(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	rep.Validation(sha, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	begin := time.Now()
	if err := rep.Run(ctx); err != nil {
		t.Fatalf("Run = %v", err)
	}
	if took := time.Since(begin); took > 2*time.Second {
		t.Errorf("Run took %s after cancel, want about the drain timeout", took)
	}
	if !strings.Contains(logs.String(), "check run reports dropped at shutdown") {
		t.Errorf("log lacks the shutdown drop:\n%s", logs.String())
	}
}

func TestNilReporterIgnoresReports(t *testing.T) {
	t.Parallel()
	var r *checks.Reporter
	r.Validation(sha, problems(1))
	r.RunStarted(testRun("r", status.RunRunning))
	r.RunFinished(testRun("r", status.RunSuccess), nil)
	if r.Pending() != 0 {
		t.Error("nil reporter has pending reports")
	}
}
