package webui

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fastflow-dev/fastflow/status"
)

// refusalPipelines are pipelines that never reach a container.
var refusalPipelines = map[string]string{
	"hello/main.py":           "print('hello')\n",
	"params/main.py":          "print('params')\n",
	"params/pipeline.json":    `{"parameters": {"COUNT": {"type": "integer", "required": true}, "MODE": {"type": "string", "enum": ["a", "b"], "default": "a"}}}`,
	"disabled/main.py":        "print('off')\n",
	"disabled/pipeline.json":  `{"enabled": false}`,
	"broken/main.py":          "print('broken')\n",
	"broken/pipeline.json":    `{"timeout": "soon"}`,
	"secretive/main.py":       "print('secret')\n",
	"secretive/pipeline.json": `{"secrets": ["API_TOKEN"]}`,
	"nightly/main.py":         "print('nightly')\n",
	"nightly/pipeline.json":   `{"description": "nightly load", "tags": ["etl"], "schedule": "0 3 * * *", "timezone": "Europe/Berlin", "mem_hard_limit": "256m"}`,
}

// TestAPIRunRefusals: every way POST /api/pipelines/{name}/run refuses,
// with its code and a JSON error, and nothing recorded. The runtime is a
// socket nobody listens on, so a request that passes every check answers
// 503.
func TestAPIRunRefusals(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t, apiEnvOptions{files: refusalPipelines})
	tests := []struct {
		name       string
		pipeline   string
		body       string
		wantCode   int
		wantDetail string // a substring of the JSON detail
	}{
		{"unknown pipeline is 404", "nope", `{}`, http.StatusNotFound, "nope"},
		{"disabled pipeline is 409", "disabled", `{}`, http.StatusConflict, "enabled"},
		{"invalid pipeline is 409", "broken", `{}`, http.StatusConflict, "timeout"},
		{"missing secret is 409", "secretive", `{}`, http.StatusConflict, "API_TOKEN"},
		{"missing required parameter is 422", "params", `{}`, http.StatusUnprocessableEntity, `"COUNT":"required"`},
		{"mistyped parameter is 422", "params", `{"parameters": {"COUNT": "many"}}`, http.StatusUnprocessableEntity, `"COUNT":"want integer"`},
		{"value outside the enum is 422", "params", `{"parameters": {"COUNT": 1, "MODE": "c"}}`, http.StatusUnprocessableEntity, `"MODE"`},
		{"undeclared parameter is 422", "params", `{"parameters": {"COUNT": 1, "EXTRA": 1}}`, http.StatusUnprocessableEntity, `"EXTRA"`},
		{"malformed JSON is 400", "hello", `{"parameters": `, http.StatusBadRequest, "unexpected EOF"},
		{"unknown field is 400", "hello", `{"params": {}}`, http.StatusBadRequest, "params"},
		{"wrong shape is 400", "hello", `{"env": ["A"]}`, http.StatusBadRequest, "env"},
		{"trailing data is 400", "hello", `{} {}`, http.StatusBadRequest, "after the JSON value"},
		{"body over 1 MiB is 400", "hello", `{"env": {"A": "` + strings.Repeat("x", 1<<20) + `"}}`, http.StatusBadRequest, "larger than"},
		{"bad env name is 422", "hello", `{"env": {"A=B": "x"}}`, http.StatusUnprocessableEntity, "A=B"},
		{"NUL in an env value is 422", "hello", `{"env": {"A": "x\u0000y"}}`, http.StatusUnprocessableEntity, "NUL"},
		{"reserved env name is 422", "hello", `{"env": {"LD_PRELOAD": "/tmp/x.so"}}`, http.StatusUnprocessableEntity, "LD_PRELOAD"},
		{"unreachable Docker is 503", "hello", `{}`, http.StatusServiceUnavailable, ""},
		{"unreachable Docker with valid parameters is 503", "params", `{"parameters": {"COUNT": 3}}`, http.StatusServiceUnavailable, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, body := e.do("POST", "/api/pipelines/"+tt.pipeline+"/run", tt.body, nil)
			if code != tt.wantCode {
				t.Fatalf("code %d, want %d: %s", code, tt.wantCode, body)
			}
			ae := decodeAPIError(t, body)
			detail, _ := json.Marshal(ae.Detail)
			if !strings.Contains(string(detail), tt.wantDetail) {
				t.Errorf("detail %s, want it to contain %q", detail, tt.wantDetail)
			}
		})
	}
	t.Cleanup(func() {
		page, err := e.store.ListRuns(context.Background(), status.RunFilter{})
		if err != nil || len(page.Runs) != 0 {
			t.Errorf("refused runs left %d records (%v)", len(page.Runs), err)
		}
	})
}

// TestAPIMalformedRunID: a run id that is not a UUID answers 404 on every
// run route before any lookup; an unknown UUID is 404 too.
func TestAPIMalformedRunID(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t, apiEnvOptions{})
	ids := []string{
		"nope",
		"..%2f..%2fetc%2fpasswd",
		"0190C6D6-3B4A-7C5D-8E6F-0A1B2C3D4E5F", // uppercase is not what the store makes
		"0190c6d6-3b4a-7c5d-8e6f-0a1b2c3d4e5f0",
		"0190c6d6-3b4a-7c5d-8e6f-0a1b2c3d4e5%00",
		"%2e%2e",
		"0190c6d6-3b4a-7c5d-8e6f-0a1b2c3d4e5f", // well formed, unknown
	}
	routes := []struct{ method, suffix string }{
		{"GET", ""}, {"GET", "/logs"}, {"GET", "/logs?download=1"}, {"GET", "/logs/stream"},
		{"GET", "/metrics"}, {"GET", "/metrics/stream"}, {"GET", "/health"},
		{"POST", "/cancel"}, {"POST", "/retry"},
	}
	for _, id := range ids {
		for _, rt := range routes {
			path := "/api/runs/" + id + rt.suffix
			code, body := e.do(rt.method, path, nil, nil)
			if code != http.StatusNotFound {
				t.Errorf("%s %s = %d, want 404: %s", rt.method, path, code, body)
				continue
			}
			decodeAPIError(t, body)
		}
	}
}

// TestAPIPipelines: the listing and one pipeline carry DESIGN's fields.
func TestAPIPipelines(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t, apiEnvOptions{files: refusalPipelines})
	var list listJSON[pipelineJSON]
	if code, body := e.do("GET", "/api/pipelines", nil, &list); code != http.StatusOK {
		t.Fatalf("list: %d %s", code, body)
	}
	var names []string
	for _, p := range list.Items {
		names = append(names, p.Name)
	}
	want := []string{"broken", "disabled", "hello", "nightly", "params", "secretive"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("pipelines (-want +got):\n%s", diff)
	}
	var tagged listJSON[pipelineJSON]
	e.do("GET", "/api/pipelines?tag=etl", nil, &tagged)
	if len(tagged.Items) != 1 || tagged.Items[0].Name != "nightly" {
		t.Errorf("?tag=etl listed %d pipelines", len(tagged.Items))
	}

	var raw map[string]any
	code, body := e.do("GET", "/api/pipelines/nightly", nil, &raw)
	if code != http.StatusOK {
		t.Fatalf("get: %d %s", code, body)
	}
	for _, field := range []string{"name", "valid", "problems", "enabled", "description", "tags", "schedules",
		"limits", "has_requirements", "last_cache_warmup", "stats", "last_run", "parameters"} {
		if _, ok := raw[field]; !ok {
			t.Errorf("pipeline has no %q field", field)
		}
	}
	var p pipelineJSON
	e.do("GET", "/api/pipelines/nightly", nil, &p)
	if len(p.Schedules) != 1 || p.Schedules[0].NextFireAt == nil {
		t.Fatalf("schedules %+v: want one with a next fire", p.Schedules)
	}
	next := p.Schedules[0].NextFireAt.In(mustLoad(t, "Europe/Berlin"))
	if next.Hour() != 3 || next.Minute() != 0 || !next.After(time.Now()) || time.Until(next) > 25*time.Hour {
		t.Errorf("next fire %s is not the next 03:00 in Berlin", next)
	}
	if p.Limits.MemHardLimit != 256<<20 || p.Description != "nightly load" || !p.Enabled || !p.Valid {
		t.Errorf("pipeline %+v", p)
	}

	var broken pipelineJSON
	e.do("GET", "/api/pipelines/broken", nil, &broken)
	if broken.Valid || len(broken.Problems) == 0 || broken.Problems[0].Pointer == "" {
		t.Errorf("broken pipeline: valid %v, problems %+v", broken.Valid, broken.Problems)
	}
	if code, body := e.do("GET", "/api/pipelines/nope", nil, nil); code != http.StatusNotFound {
		t.Errorf("unknown pipeline: %d %s", code, body)
	}
}

func mustLoad(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// TestAPIPipelineStats: counters read, reset, and 404 for an unknown name.
func TestAPIPipelineStats(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t, apiEnvOptions{files: refusalPipelines})
	ctx := context.Background()
	for _, st := range []status.RunStatus{status.RunSuccess, status.RunSuccess, status.RunFailed, status.RunCancelled, status.RunInterrupted, status.RunCancelled} {
		if err := e.store.IncrementCounters(ctx, "hello", st); err != nil {
			t.Fatal(err)
		}
	}
	var st statsJSON
	if code, body := e.do("GET", "/api/pipelines/hello/stats", nil, &st); code != http.StatusOK {
		t.Fatalf("stats: %d %s", code, body)
	}
	if want := (statsJSON{TotalRuns: 3, SuccessfulRuns: 2, FailedRuns: 1, CancelledRuns: 2, InterruptedRuns: 1}); st != want {
		t.Errorf("stats %+v, want %+v (stopped runs outside the total, never reset)", st, want)
	}
	var reset statsJSON
	if code, body := e.do("POST", "/api/pipelines/hello/stats/reset", nil, &reset); code != http.StatusOK {
		t.Fatalf("reset: %d %s", code, body)
	}
	if reset.TotalRuns != 0 || reset.CountersResetAt == nil {
		t.Errorf("after reset %+v, want zeros and a reset time", reset)
	}
	var never statsJSON
	if code, _ := e.do("GET", "/api/pipelines/nightly/stats", nil, &never); code != http.StatusOK || never.TotalRuns != 0 {
		t.Errorf("a live pipeline that never ran: %d %+v, want 200 and zeros", code, never)
	}
	for _, path := range []string{"/api/pipelines/nope/stats", "/api/pipelines/nope/runs"} {
		if code, _ := e.do("GET", path, nil, nil); code != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", path, code)
		}
	}
	if code, _ := e.do("POST", "/api/pipelines/nope/stats/reset", nil, nil); code != http.StatusNotFound {
		t.Errorf("reset of an unknown pipeline = %d, want 404", code)
	}
}

// seedRuns stores n runs of two pipelines, a second apart, with pairs
// sharing a QueuedAt so the ID breaks ties, and returns them oldest first.
func seedRuns(t testing.TB, store status.Store, n int, base time.Time) []status.Run {
	t.Helper()
	ctx := context.Background()
	out := make([]status.Run, 0, n)
	statuses := []status.RunStatus{status.RunSuccess, status.RunFailed, status.RunCancelled}
	for i := range n {
		pipeline := "alpha"
		if i%4 == 3 {
			pipeline = "beta"
		}
		r, err := store.CreateRun(ctx, status.Run{
			Pipeline: pipeline,
			Status:   statuses[i%len(statuses)],
			Trigger:  status.TriggerManual,
			QueuedAt: base.Add(time.Duration(i/2) * time.Second),
		})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// collectPages follows next_cursor from query and returns the IDs in order
// and the page sizes.
func collectPages(t *testing.T, e *apiEnv, query url.Values) (ids []string, sizes []int) {
	t.Helper()
	cursor := ""
	for range 100 {
		q := url.Values{}
		for k, v := range query {
			q[k] = v
		}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var page listJSON[runJSON]
		code, body := e.do("GET", "/api/runs?"+q.Encode(), nil, &page)
		if code != http.StatusOK {
			t.Fatalf("list %s: %d %s", q.Encode(), code, body)
		}
		sizes = append(sizes, len(page.Items))
		for _, r := range page.Items {
			ids = append(ids, r.ID)
		}
		if page.NextCursor == "" {
			return ids, sizes
		}
		cursor = page.NextCursor
	}
	t.Fatal("more than 100 pages")
	return nil, nil
}

// TestAPIListRuns: filters, both orders and cursor pages over 120 runs.
func TestAPIListRuns(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t, apiEnvOptions{})
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	runs := seedRuns(t, e.store, 120, base)
	// The store orders by (QueuedAt, ID); so must the pages.
	asc := make([]status.Run, len(runs))
	copy(asc, runs)
	slices.SortFunc(asc, func(a, b status.Run) int {
		if c := a.QueuedAt.Compare(b.QueuedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	idsOf := func(rs []status.Run, keep func(status.Run) bool) []string {
		var out []string
		for _, r := range rs {
			if keep == nil || keep(r) {
				out = append(out, r.ID)
			}
		}
		return out
	}
	reversed := func(s []string) []string { s = slices.Clone(s); slices.Reverse(s); return s }
	allAsc := idsOf(asc, nil)

	tests := []struct {
		name      string
		query     url.Values
		want      []string
		wantSizes []int
	}{
		{"newest first by default, pages of 50", url.Values{"limit": {"50"}}, reversed(allAsc), []int{50, 50, 20}},
		{"oldest first", url.Values{"limit": {"50"}, "order": {"asc"}}, allAsc, []int{50, 50, 20}},
		{"default page size is 50", url.Values{}, reversed(allAsc), []int{50, 50, 20}},
		{"one pipeline", url.Values{"pipeline": {"beta"}, "order": {"asc"}},
			idsOf(asc, func(r status.Run) bool { return r.Pipeline == "beta" }), []int{30}},
		{"statuses, either case, comma or repeated", url.Values{"status": {"failed,CANCELLED"}, "order": {"asc"}, "limit": {"1000"}},
			idsOf(asc, func(r status.Run) bool { return r.Status != status.RunSuccess }), []int{80}},
		{"since and until bound queued_at", url.Values{
			"since": {base.Add(10 * time.Second).Format(time.RFC3339)}, "until": {base.Add(20 * time.Second).Format(time.RFC3339)},
			"order": {"asc"}, "limit": {"7"}},
			idsOf(asc, func(r status.Run) bool {
				return !r.QueuedAt.Before(base.Add(10*time.Second)) && r.QueuedAt.Before(base.Add(20*time.Second))
			}), []int{7, 7, 6}},
		{"nothing matches", url.Values{"pipeline": {"gamma"}}, nil, []int{0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, sizes := collectPages(t, e, tt.query)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ids (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantSizes, sizes); diff != "" {
				t.Errorf("page sizes (-want +got):\n%s", diff)
			}
			seen := map[string]bool{}
			for _, id := range got {
				if seen[id] {
					t.Errorf("run %s listed twice", id)
				}
				seen[id] = true
			}
		})
	}

	var perPipeline listJSON[runJSON]
	e.do("GET", "/api/pipelines/beta/runs?limit=5&pipeline=alpha", nil, &perPipeline)
	if len(perPipeline.Items) != 5 || perPipeline.Items[0].Pipeline != "beta" || perPipeline.NextCursor == "" {
		t.Errorf("/api/pipelines/beta/runs: %d items, first %+v", len(perPipeline.Items), perPipeline.Items)
	}
}

// TestAPIListRunsBadQuery: a bad query value is a 400 naming the parameter.
func TestAPIListRunsBadQuery(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t, apiEnvOptions{})
	tests := []struct {
		name, query, wantParam string
	}{
		{"unknown status", "status=DONE", "status"},
		{"time not RFC 3339", "since=yesterday", "since"},
		{"not a time", "until=next+tuesday", "until"},
		{"a date with a bad day", "since=2026-02-30", "since"},
		{"until before since", "since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z", "until"},
		{"unknown order", "order=sideways", "order"},
		{"limit zero", "limit=0", "limit"},
		{"limit over 1000", "limit=1001", "limit"},
		{"limit not a number", "limit=ten", "limit"},
		{"cursor not base64", "cursor=%%%", ""},
		{"cursor garbage", "cursor=bm90IGEgY3Vyc29y", "cursor"},
		{"cursor negative time", "cursor=" + base64URL("-5|abc"), "cursor"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, body := e.do("GET", "/api/runs?"+tt.query, nil, nil)
			if code != http.StatusBadRequest {
				t.Fatalf("code %d, want 400: %s", code, body)
			}
			ae := decodeAPIError(t, body)
			if detail, ok := ae.Detail.(map[string]any); tt.wantParam != "" && (!ok || detail[tt.wantParam] == nil) {
				t.Errorf("detail %v does not name %q", ae.Detail, tt.wantParam)
			}
		})
	}
}

func base64URL(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// TestAPISync: a manual sync request is accepted and shows in the status.
func TestAPISync(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t, apiEnvOptions{})
	if code, body := e.do("POST", "/api/sync", nil, nil); code != http.StatusAccepted {
		t.Fatalf("POST /api/sync: %d %s", code, body)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		var st syncStatusJSON
		if code, body := e.do("GET", "/api/sync/status", nil, &st); code != http.StatusOK {
			t.Fatalf("status: %d %s", code, body)
		}
		if st.Last != nil && st.Last.Trigger == "manual" {
			if st.Revision == "" || len(st.History) < 2 || st.History[0].Trigger != "manual" || st.CommitAuthor == "" || st.CommittedAt == nil {
				t.Errorf("sync status %+v", st)
			}
			if st.PreHeat == nil {
				t.Errorf("sync status has no preheat list")
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no manual sync recorded: %+v", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestAPIGetRunFields: GET /api/runs/{id} answers DESIGN's field names
// exactly, nulls where nothing is known yet.
func TestAPIGetRunFields(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t, apiEnvOptions{})
	// A queued run the operator must not claim while the test reads it:
	// its earliest start is far ahead.
	r, err := e.store.CreateRun(context.Background(), status.Run{Pipeline: "hello", Trigger: status.TriggerManual, TriggeredBy: "alice",
		NotBefore: time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if code, body := e.do("GET", "/api/runs/"+r.ID, nil, &raw); code != http.StatusOK {
		t.Fatalf("%d %s", code, body)
	}
	for _, f := range []string{"id", "pipeline", "status", "error_type", "exit_code", "message", "revision", "trigger",
		"triggered_by", "attempt", "retry_of", "parameters", "env_names", "queued_at", "started_at", "finished_at",
		"duration_seconds", "uv_version", "setup_duration", "peak_cpu_percent", "peak_ram_mb", "soft_limit_exceeded", "log_url"} {
		if _, ok := raw[f]; !ok {
			t.Errorf("run has no %q", f)
		}
	}
	for _, f := range []string{"error_type", "exit_code", "retry_of", "started_at", "finished_at", "duration_seconds"} {
		if raw[f] != nil {
			t.Errorf("%s = %v for a pending run, want null", f, raw[f])
		}
	}
	if raw["log_url"] != fmt.Sprintf("/api/runs/%s/logs", r.ID) || raw["status"] != "PENDING" || raw["queued"] != true ||
		raw["not_before"] != "2099-01-01T00:00:00Z" {
		t.Errorf("run %v", raw)
	}
}
