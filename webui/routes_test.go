package webui

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// publicPatterns are the only routes allowed to answer without credentials:
// the Docker socket behind Fast-Flow is root on its host.
var publicPatterns = []string{"/health", "/healthz", "/readyz", "/login", "/auth/login", "/auth/logout", "/hooks/github"}

// wildcardRE matches a path wildcard of a ServeMux pattern: {name},
// {name...} or {$}.
var wildcardRE = regexp.MustCompile(`\{([A-Za-z_][A-Za-z0-9_]*)?(\.\.\.)?(\$)?\}`)

// samplePath fills pattern's wildcards with values of the right shape, so
// a handler gets past its input checks where it can; what it answers for
// a run or pipeline that does not exist is not under test here.
func samplePath(pattern string) string {
	return wildcardRE.ReplaceAllStringFunc(pattern, func(w string) string {
		m := wildcardRE.FindStringSubmatch(w)
		switch {
		case m[3] != "":
			return ""
		case m[1] == "name":
			return "hello"
		case m[1] == "id":
			return "0190c6d6-3b4a-7c5d-8e6f-0a1b2c3d4e5f"
		case m[1] == "key":
			return "SAMPLE_SECRET"
		case m[2] != "":
			return "sample/rest"
		default:
			return "sample"
		}
	})
}

func TestSamplePath(t *testing.T) {
	t.Parallel()
	tests := []struct{ pattern, want string }{
		{"/api/runs", "/api/runs"},
		{"/api/pipelines/{name}/run", "/api/pipelines/hello/run"},
		{"/api/runs/{id}/logs/stream", "/api/runs/0190c6d6-3b4a-7c5d-8e6f-0a1b2c3d4e5f/logs/stream"},
		{"/api/secrets/{key}", "/api/secrets/SAMPLE_SECRET"},
		{"/static/{path...}", "/static/sample/rest"},
		{"/{$}", "/"},
		{"/x/{other}", "/x/sample"},
	}
	for _, tt := range tests {
		if got := samplePath(tt.pattern); got != tt.want {
			t.Errorf("samplePath(%q) = %q, want %q", tt.pattern, got, tt.want)
		}
	}
}

// TestRouteTableNeedsCredentials walks every registered route: public ones
// must be on the short list, every other one must refuse a request without
// credentials or with a revoked token, and let a session cookie and a
// bearer token through to its handler.
func TestRouteTableNeedsCredentials(t *testing.T) {
	t.Parallel()
	f := newAuthFixture(t)
	alice := f.addUser(t, "alice", "correct horse")
	cookie := f.login(t, f.srv, "alice", "correct horse")
	token, _ := f.addToken(t, alice)
	revoked, revokedID := f.addToken(t, alice)
	if err := f.store.RevokeAPIToken(context.Background(), revokedID); err != nil {
		t.Fatal(err)
	}

	routes := f.srv.Routes()
	var public []string
	for _, rt := range routes {
		if rt.Public {
			public = append(public, rt.Pattern)
			if !slices.Contains(publicPatterns, rt.Pattern) {
				t.Errorf("%s %s is public; only %v may be", rt.Method, rt.Pattern, publicPatterns)
			}
		}
	}
	for _, p := range []string{"/health", "/healthz", "/readyz", "/login", "/auth/login", "/auth/logout"} {
		if !slices.Contains(public, p) {
			t.Errorf("%s is not registered as a public route", p)
		}
	}

	type credential struct {
		name     string
		set      func(*http.Request)
		wantAuth bool
	}
	creds := []credential{
		{name: "without credentials", set: func(*http.Request) {}},
		{name: "with a revoked token", set: func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+revoked) }},
		{name: "with a forged session", set: func(r *http.Request) { r.AddCookie(&http.Cookie{Name: SessionCookie, Value: "forged"}) }},
		{name: "with a session cookie", wantAuth: true, set: func(r *http.Request) {
			r.AddCookie(cookie)
			r.Header.Set("Sec-Fetch-Site", "same-origin") // as a browser sends it
		}},
		{name: "with a bearer token", wantAuth: true, set: func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }},
	}

	protected := 0
	for _, rt := range routes {
		if rt.Public {
			continue
		}
		protected++
		path := samplePath(rt.Pattern)
		t.Run(rt.Method+" "+rt.Pattern, func(t *testing.T) {
			t.Parallel()
			codes := map[string]int{}
			for _, c := range creds {
				rec := serveWithDeadline(t, f.srv, rt.Method, path, c.set)
				codes[c.name] = rec.Code
				switch {
				case !c.wantAuth && rec.Code != http.StatusUnauthorized:
					t.Errorf("%s %s: %d, want 401", c.name, path, rec.Code)
				case !c.wantAuth && !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer "):
					t.Errorf("%s %s: 401 without a Bearer challenge", c.name, path)
				case c.wantAuth && (rec.Code == http.StatusUnauthorized || rec.Code == http.StatusForbidden):
					t.Errorf("%s %s: %d %s, want the handler's answer", c.name, path, rec.Code, rec.Body)
				}
			}
			// A read answers alike for both kinds of credential: the same
			// user reached the same handler.
			if rt.Method == "GET" && codes["with a session cookie"] != codes["with a bearer token"] {
				t.Errorf("GET %s: cookie %d, bearer %d", path, codes["with a session cookie"], codes["with a bearer token"])
			}
			t.Logf("%s %s: %v", rt.Method, path, codes)
		})
	}
	if protected == 0 {
		t.Fatal("no protected route registered: the walk proves nothing")
	}
}

// serveWithDeadline sends one request through srv. Streams end with the
// request's context; a handler that ignores it fails the test rather than
// hanging it.
func serveWithDeadline(t *testing.T, srv *Server, method, path string, set func(*http.Request)) *httptest.ResponseRecorder {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var body *strings.Reader
	if method != "GET" && method != "HEAD" && method != "DELETE" {
		body = strings.NewReader("{}")
	}
	var r *http.Request
	if body != nil {
		r = httptest.NewRequestWithContext(ctx, method, path, body)
		r.Header.Set("Content-Type", "application/json")
	} else {
		r = httptest.NewRequestWithContext(ctx, method, path, nil)
	}
	set(r)
	rec := httptest.NewRecorder()
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.ServeHTTP(rec, r)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s %s did not return 8 s after its context ended", method, path)
	}
	return rec
}

// TestPathValuesReachHandlers: a wildcard of a protected route arrives in
// its handler through Server.ServeHTTP and requireAuth, so the walk above
// reaches handlers with the sample values it means to send.
func TestPathValuesReachHandlers(t *testing.T) {
	t.Parallel()
	f := newAuthFixture(t)
	alice := f.addUser(t, "alice", "correct horse")
	token, _ := f.addToken(t, alice)
	f.srv.handle("GET", "/test-only/{name}/{rest...}", false, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"name": r.PathValue("name"), "rest": r.PathValue("rest"), "user": userFrom(r.Context())})
	})
	rec := serveWithDeadline(t, f.srv, "GET", "/test-only/hello/a/b", func(r *http.Request) {
		r.Header.Set("Authorization", "Bearer "+token)
	})
	got := authBody(t, rec)
	if rec.Code != http.StatusOK || got["name"] != "hello" || got["rest"] != "a/b" || got["user"] != "alice" {
		t.Errorf("handler saw %d %v, want name hello, rest a/b, user alice", rec.Code, got)
	}
}

// TestBrowsersAreSentToLogin: a browser opening any page without a valid
// session is sent to the login form, which brings it back afterwards; the
// API and the page actions keep answering 401.
func TestBrowsersAreSentToLogin(t *testing.T) {
	t.Parallel()
	f := newAuthFixture(t)
	html := func(r *http.Request) { r.Header.Set("Accept", "text/html,application/xhtml+xml,*/*;q=0.8") }
	forged := func(r *http.Request) {
		html(r)
		r.AddCookie(&http.Cookie{Name: SessionCookie, Value: "expired-or-forged"})
	}
	pages := 0
	for _, rt := range f.srv.Routes() {
		if rt.Public {
			continue
		}
		path := samplePath(rt.Pattern)
		rec := serveWithDeadline(t, f.srv, rt.Method, path, html)
		isPage := rt.Method == "GET" && !strings.HasPrefix(rt.Pattern, "/api/")
		switch {
		case isPage:
			pages++
			want := "/login?next=" + url.QueryEscape(path)
			if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != want {
				t.Errorf("GET %s from a browser: %d to %q, want 303 to %q", path, rec.Code, rec.Header().Get("Location"), want)
			}
			rec = serveWithDeadline(t, f.srv, rt.Method, path, forged)
			if loc := rec.Header().Get("Location"); rec.Code != http.StatusSeeOther || !strings.HasSuffix(loc, "&error=expired") {
				t.Errorf("GET %s with a stale session: %d to %q, want 303 with error=expired", path, rec.Code, loc)
			}
		case rec.Code != http.StatusUnauthorized:
			t.Errorf("%s %s from a browser: %d, want 401", rt.Method, path, rec.Code)
		}
	}
	if pages == 0 {
		t.Fatal("no page route registered")
	}

	// A page's form posted without JavaScript after the session ended
	// goes to the login form and back to the page it came from.
	r := httptest.NewRequest("POST", "/runs/0190c6d6-3b4a-7c5d-8e6f-0a1b2c3d4e5f/cancel", strings.NewReader(""))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Referer", "http://example.com/runs/0190c6d6-3b4a-7c5d-8e6f-0a1b2c3d4e5f")
	r.AddCookie(&http.Cookie{Name: SessionCookie, Value: "expired"})
	rec := httptest.NewRecorder()
	f.srv.ServeHTTP(rec, r)
	want := "/login?next=" + url.QueryEscape("/runs/0190c6d6-3b4a-7c5d-8e6f-0a1b2c3d4e5f") + "&error=expired"
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != want {
		t.Errorf("form post with an expired session: %d to %q, want 303 to %q", rec.Code, rec.Header().Get("Location"), want)
	}
	// Sent with app.js (asking for JSON) it is a 401 the script acts on.
	r = httptest.NewRequest("POST", "/runs/0190c6d6-3b4a-7c5d-8e6f-0a1b2c3d4e5f/cancel", strings.NewReader(""))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Accept", "application/json")
	rec = httptest.NewRecorder()
	f.srv.ServeHTTP(rec, r)
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("script post without a session: %d, want 401", rec.Code)
	}
}

func TestLocalRedirect(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":                      "/",
		"/runs?status=FAILED":   "/runs?status=FAILED",
		"/pipelines/hello#run":  "/pipelines/hello#run",
		"//evil.example/x":      "/",
		"https://evil.example/": "/",
		"/\\evil.example":       "/",
		"javascript:alert(1)":   "/",
		"runs":                  "/",
		"/x\r\nSet-Cookie: a=b": "/",
	} {
		if got := localRedirect(in); got != want {
			t.Errorf("localRedirect(%q) = %q, want %q", in, got, want)
		}
	}
}
