package webui

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/fastflow-dev/fastflow/status"
)

// postAction sends a page action as app.js does (asJSON) or as a plain
// form, without following redirects.
func postAction(t *testing.T, e *apiEnv, path string, form url.Values, asJSON bool, cookies ...*http.Cookie) *http.Response {
	t.Helper()
	req, err := http.NewRequest("POST", e.http.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+e.token)
	if asJSON {
		req.Header.Set("Accept", "application/json")
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	client := *e.http.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func decodeAction(t *testing.T, resp *http.Response) actionResult {
	t.Helper()
	var res actionResult
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		t.Fatalf("decode action answer: %v", err)
	}
	return res
}

// TestUIActionsJSON: the answers app.js turns into toasts and field
// errors, with the status codes of the API.
func TestUIActionsJSON(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	tests := []struct {
		name, path string
		form       url.Values
		code       int
		ok         bool
		message    string
		errors     map[string]string
	}{
		{name: "wrong parameter types", path: "/pipelines/nightly/run",
			form: url.Values{"p.DATE": {"2026-11-27"}, "p.FULL": {"maybe"}, "p.MODE": {"reckless"}},
			code: 422, message: "invalid parameters",
			errors: map[string]string{"FULL": "want boolean", "MODE": "want string (one of fast, safe)"}},
		{name: "required parameter left empty", path: "/pipelines/nightly/run", form: url.Values{"p.DATE": {""}},
			code: 422, errors: map[string]string{"DATE": "required"}},
		{name: "undeclared parameter", path: "/pipelines/hello/run", form: url.Values{"p.EXTRA": {"1"}},
			code: 422, errors: map[string]string{"EXTRA": "not a declared parameter of this pipeline"}},
		{name: "a secret it needs is not set", path: "/pipelines/nightly/run", form: url.Values{"p.DATE": {"2026-11-27"}},
			code: 409, message: "WAREHOUSE_DSN"},
		{name: "disabled pipeline", path: "/pipelines/disabled/run", code: 409, message: "pipeline is disabled"},
		{name: "invalid pipeline", path: "/pipelines/broken/run", code: 409, message: "pipeline is invalid"},
		{name: "unknown pipeline", path: "/pipelines/nope/run", code: 404, message: "not found"},
		{name: "cancel a finished run", path: "/runs/" + uiRunOK + "/cancel", code: 409, message: "already ended SUCCESS"},
		{name: "cancel an unknown run", path: "/runs/0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4aff/cancel", code: 404, message: "No run with that id"},
		{name: "retry a malformed id", path: "/runs/..%2F..%2Fetc/retry", code: 404, message: "No run with that id"},
		{name: "reset counters", path: "/pipelines/nightly/reset", code: 200, ok: true, message: "Counters of nightly reset."},
		{name: "reset an unknown pipeline", path: "/pipelines/nope/reset", code: 404, message: "No pipeline named nope."},
		{name: "sync now", path: "/sync", code: 202, ok: true, message: "Sync requested."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := postAction(t, e, tt.path, tt.form, true)
			if resp.StatusCode != tt.code {
				t.Errorf("POST %s: %d, want %d", tt.path, resp.StatusCode, tt.code)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Fatalf("POST %s: Content-Type %q, want JSON", tt.path, ct)
			}
			res := decodeAction(t, resp)
			if res.OK != tt.ok || !strings.Contains(res.Message, tt.message) {
				t.Errorf("POST %s: %+v, want ok=%v and a message containing %q", tt.path, res, tt.ok, tt.message)
			}
			for field, want := range tt.errors {
				if got := res.Errors[field]; !strings.HasPrefix(got, want) {
					t.Errorf("POST %s: error for %s = %q, want %q", tt.path, field, got, want)
				}
			}
			if len(res.Errors) != len(tt.errors) {
				t.Errorf("POST %s: errors %v, want exactly %v", tt.path, res.Errors, tt.errors)
			}
		})
	}
}

// TestUIActionsWithoutJavaScript: a plain form post is answered with a
// redirect and a one-shot flash, or with the form again beside its errors.
func TestUIActionsWithoutJavaScript(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	ctx := context.Background()
	for range 3 {
		if err := e.store.IncrementCounters(ctx, "nightly", status.RunSuccess); err != nil {
			t.Fatal(err)
		}
	}

	resp := postAction(t, e, "/pipelines/nightly/reset", nil, false)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/pipelines/nightly" {
		t.Fatalf("reset: %d to %q, want 303 to the pipeline", resp.StatusCode, resp.Header.Get("Location"))
	}
	st, err := e.store.GetPipelineStats(ctx, "nightly")
	if err != nil || st.TotalRuns != 0 {
		t.Fatalf("counters after reset: %+v, %v", st, err)
	}
	var flash *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == flashCookie {
			flash = c
		}
	}
	if flash == nil {
		t.Fatal("reset: no flash cookie")
	}
	page := getPageWith(t, e, "/pipelines/nightly", flash)
	if !strings.Contains(page.body, `<div class="toast toast-success" role="status">Counters of nightly reset.</div>`) {
		t.Errorf("the page after the reset shows no toast:\n%s", page.body)
	}
	if c := page.cookie(flashCookie); c == nil || c.MaxAge >= 0 {
		t.Errorf("the flash was not cleared after being shown: %v", c)
	}

	// A forged flash is shown as text, and only as one of the two kinds.
	forged := &http.Cookie{Name: flashCookie, Value: url.QueryEscape("success:<img src=x onerror=alert(1)>")}
	page = getPageWith(t, e, "/", forged)
	if strings.Contains(page.body, "<img src=x") || !strings.Contains(page.body, "&lt;img src=x") {
		t.Errorf("forged flash not escaped:\n%s", page.body)
	}
	page = getPageWith(t, e, "/", &http.Cookie{Name: flashCookie, Value: "script:hi"})
	if strings.Contains(page.body, `class="toast`) {
		t.Errorf("a flash of an unknown kind was shown")
	}

	resp = postAction(t, e, "/pipelines/nightly/run", url.Values{"p.FULL": {"maybe"}, "p.MODE": {"fast"}}, false)
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("run with bad fields: %d, want 422", resp.StatusCode)
	}
	for _, want := range []string{
		`<span class="field-error" data-error-for="DATE">required</span>`,
		`<span class="field-error" data-error-for="FULL">want boolean</span>`,
		`<option value="fast" selected>fast</option>`,
		"The run was not started",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the refused form lacks %s:\n%s", want, body)
		}
	}

	resp = postAction(t, e, "/runs/"+uiRunOK+"/cancel", nil, false)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/runs/"+uiRunOK {
		t.Errorf("cancel of a finished run: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

type pageAnswer struct {
	body string
	resp *http.Response
}

func (p pageAnswer) cookie(name string) *http.Cookie {
	for _, c := range p.resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func getPageWith(t *testing.T, e *apiEnv, path string, c *http.Cookie) pageAnswer {
	t.Helper()
	req, err := http.NewRequest("GET", e.http.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.token)
	req.AddCookie(c)
	resp, err := e.http.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return pageAnswer{body: readBody(t, resp), resp: resp}
}

func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return b.String()
}
