package webui

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/fastflow-dev/fastflow/status"
	"github.com/fastflow-dev/fastflow/status/credentials"
	"github.com/fastflow-dev/fastflow/status/sqlstore"
)

// authFixture is a Server on a migrated SQLite store, with helpers that make
// users, tokens and sessions the way production does.
type authFixture struct {
	srv   *Server
	op    *fakeOperator
	store status.Store
}

func newAuthFixture(t *testing.T) *authFixture {
	t.Helper()
	op, store := newIdleOperator(t)
	if err := store.(*sqlstore.Store).Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	f := &authFixture{op: op, store: store}
	f.srv = f.newServer(t)
	return f
}

// newServer is another Server on the same store: a restart.
func (f *authFixture) newServer(t *testing.T) *Server {
	t.Helper()
	srv, err := New(Config{Operator: f.op, Store: f.store})
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

// addUser creates a user; bcrypt's lowest cost keeps the tests fast, and
// CheckPassword reads the cost from the hash.
func (f *authFixture) addUser(t *testing.T, name, password string) status.User {
	t.Helper()
	hash, err := credentials.Hasher{Cost: bcrypt.MinCost}.HashPassword(password)
	if err != nil {
		t.Fatal(err)
	}
	u, err := f.store.CreateUser(context.Background(), name, hash)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// addToken creates an API token for user and returns it with its ID.
func (f *authFixture) addToken(t *testing.T, user status.User) (string, int64) {
	t.Helper()
	token, hash, err := credentials.NewToken(credentials.APITokenPrefix)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := f.store.CreateAPIToken(context.Background(), status.APIToken{Hash: hash, Name: "test", UserID: user.ID})
	if err != nil {
		t.Fatal(err)
	}
	return token, tok.ID
}

// login logs in through POST /auth/login and returns the session cookie.
func (f *authFixture) login(t *testing.T, srv *Server, user, password string) *http.Cookie {
	t.Helper()
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, jsonLogin(user, password))
	if rec.Code != http.StatusOK {
		t.Fatalf("login as %s = %d %s", user, rec.Code, rec.Body)
	}
	for _, c := range rec.Result().Cookies() {
		if c.Name == SessionCookie && c.Value != "" {
			return c
		}
	}
	t.Fatalf("login as %s set no session cookie", user)
	return nil
}

func jsonLogin(user, password string) *http.Request {
	b, _ := json.Marshal(loginRequest{Username: user, Password: password})
	r := httptest.NewRequest("POST", "/auth/login", strings.NewReader(string(b)))
	r.Header.Set("Content-Type", "application/json")
	return r
}

func formLogin(values url.Values) *http.Request {
	r := httptest.NewRequest("POST", "/auth/login", strings.NewReader(values.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return r
}

// whoAmI is a protected handler that answers with the user requireAuth let in.
func whoAmI(srv *Server) http.Handler {
	return srv.requireAuth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"user": userFrom(r.Context())})
	}))
}

func authBody(t *testing.T, rec *httptest.ResponseRecorder) map[string]string {
	t.Helper()
	var m map[string]string
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatalf("body %q is not a JSON object of strings: %v", rec.Body, err)
	}
	return m
}

func sessionCookieOf(rec *httptest.ResponseRecorder) *http.Cookie {
	for _, c := range rec.Result().Cookies() {
		if c.Name == SessionCookie {
			return c
		}
	}
	return nil
}

func TestLogin(t *testing.T) {
	t.Parallel()
	f := newAuthFixture(t)
	f.addUser(t, "alice", "correct horse")

	tests := []struct {
		name         string
		req          *http.Request
		wantCode     int
		wantError    string
		wantUser     string
		wantLocation string
		// refused: a form sent back to the login page, without a session.
		refused bool
	}{
		{name: "JSON with the right password answers the user", req: jsonLogin("alice", "correct horse"), wantCode: http.StatusOK, wantUser: "alice"},
		{name: "form with the right password redirects home", req: formLogin(url.Values{"username": {"alice"}, "password": {"correct horse"}}), wantCode: http.StatusSeeOther, wantLocation: "/"},
		{name: "wrong password is 401", req: jsonLogin("alice", "wrong horse"), wantCode: http.StatusUnauthorized, wantError: "invalid username or password"},
		{name: "unknown user gets the same 401", req: jsonLogin("mallory", "correct horse"), wantCode: http.StatusUnauthorized, wantError: "invalid username or password"},
		{name: "impossible username gets the same 401", req: jsonLogin("../../etc/passwd", "correct horse"), wantCode: http.StatusUnauthorized, wantError: "invalid username or password"},
		{name: "form with a wrong password goes back to the form", req: formLogin(url.Values{"username": {"alice"}, "password": {"nope nope"}}),
			wantCode: http.StatusSeeOther, wantLocation: "/login?error=invalid", refused: true},
		{name: "form with a wrong password keeps where it was going", req: formLogin(url.Values{"username": {"alice"}, "password": {"nope nope"}, "next": {"/runs?status=FAILED"}}),
			wantCode: http.StatusSeeOther, wantLocation: "/login?error=invalid&next=%2Fruns%3Fstatus%3DFAILED", refused: true},
		{name: "form login goes where it was going", req: formLogin(url.Values{"username": {"alice"}, "password": {"correct horse"}, "next": {"/runs?status=FAILED"}}),
			wantCode: http.StatusSeeOther, wantLocation: "/runs?status=FAILED"},
		{name: "form login never goes to another site", req: formLogin(url.Values{"username": {"alice"}, "password": {"correct horse"}, "next": {"//evil.example/x"}}),
			wantCode: http.StatusSeeOther, wantLocation: "/"},
		{name: "broken JSON is 400", req: func() *http.Request {
			r := httptest.NewRequest("POST", "/auth/login", strings.NewReader(`{"username": "alice",`))
			r.Header.Set("Content-Type", "application/json")
			return r
		}(), wantCode: http.StatusBadRequest, wantError: "malformed body"},
		{name: "two JSON values are 400", req: func() *http.Request {
			r := httptest.NewRequest("POST", "/auth/login", strings.NewReader(`{"username":"alice","password":"correct horse"} {}`))
			r.Header.Set("Content-Type", "application/json")
			return r
		}(), wantCode: http.StatusBadRequest, wantError: "malformed body: more than one JSON value"},
		{name: "JSON of the wrong shape is 400", req: func() *http.Request {
			r := httptest.NewRequest("POST", "/auth/login", strings.NewReader(`["alice"]`))
			r.Header.Set("Content-Type", "application/json")
			return r
		}(), wantCode: http.StatusBadRequest, wantError: "malformed body"},
		{name: "missing password is 400", req: jsonLogin("alice", ""), wantCode: http.StatusBadRequest, wantError: "username and password are required"},
		{name: "empty form goes back to the form", req: formLogin(url.Values{}), wantCode: http.StatusSeeOther, wantLocation: "/login?error=missing", refused: true},
		{name: "plain text is 415", req: func() *http.Request {
			r := httptest.NewRequest("POST", "/auth/login", strings.NewReader("alice:correct horse"))
			r.Header.Set("Content-Type", "text/plain")
			return r
		}(), wantCode: http.StatusUnsupportedMediaType, wantError: "send application/json or application/x-www-form-urlencoded"},
		{name: "huge body is 413", req: func() *http.Request {
			r := httptest.NewRequest("POST", "/auth/login", strings.NewReader(`{"username":"`+strings.Repeat("a", 2*maxLoginBody)+`"}`))
			r.Header.Set("Content-Type", "application/json")
			return r
		}(), wantCode: http.StatusRequestEntityTooLarge, wantError: "body too large"},
		{name: "cross-site login is refused", req: func() *http.Request {
			r := jsonLogin("alice", "correct horse")
			r.Header.Set("Sec-Fetch-Site", "cross-site")
			return r
		}(), wantCode: http.StatusForbidden, wantError: "cross-origin request refused"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// Each case from its own address: together they make more
			// failures, and more at once, than one client may
			// (TestLoginRateLimit).
			tt.req.RemoteAddr = "192.0.2." + strconv.Itoa(i+1) + ":1234"
			rec := httptest.NewRecorder()
			f.srv.ServeHTTP(rec, tt.req)
			if rec.Code != tt.wantCode {
				t.Fatalf("code = %d, want %d; body %s", rec.Code, tt.wantCode, rec.Body)
			}
			c := sessionCookieOf(rec)
			success := (tt.wantUser != "" || tt.wantLocation != "") && !tt.refused
			if success != (c != nil && c.Value != "") {
				t.Errorf("session cookie %v, want one: %v", c, success)
			}
			if loc := rec.Header().Get("Location"); loc != tt.wantLocation {
				t.Errorf("Location = %q, want %q", loc, tt.wantLocation)
			}
			if tt.wantLocation != "" {
				return
			}
			body := authBody(t, rec)
			if body["error"] != tt.wantError || body["username"] != tt.wantUser {
				t.Errorf("body = %v, want error %q username %q", body, tt.wantError, tt.wantUser)
			}
		})
	}
}

func TestLoginSessionCookie(t *testing.T) {
	t.Parallel()
	f := newAuthFixture(t)
	f.addUser(t, "alice", "correct horse")
	tests := []struct {
		name       string
		url        string
		wantSecure bool
	}{
		{name: "plain HTTP cookie is not Secure", url: "http://ff.example/auth/login"},
		{name: "TLS cookie is Secure", url: "https://ff.example/auth/login", wantSecure: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := jsonLogin("alice", "correct horse")
			r2 := httptest.NewRequest("POST", tt.url, r.Body)
			r2.Header = r.Header
			rec := httptest.NewRecorder()
			f.srv.ServeHTTP(rec, r2)
			c := sessionCookieOf(rec)
			if rec.Code != http.StatusOK || c == nil {
				t.Fatalf("login = %d %s, cookie %v", rec.Code, rec.Body, c)
			}
			if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Secure != tt.wantSecure {
				t.Errorf("cookie %s: want HttpOnly, SameSite=Lax, Path=/, Secure=%v", c, tt.wantSecure)
			}
			if want := int(DefaultSessionTTL / time.Second); c.MaxAge != want {
				t.Errorf("cookie Max-Age = %d, want %d (7 days)", c.MaxAge, want)
			}
			ctx := context.Background()
			sess, err := f.store.GetSession(ctx, credentials.HashToken(c.Value))
			if err != nil || sess.Username != "alice" {
				t.Fatalf("session by the hash of the cookie = %+v, %v", sess, err)
			}
			if left := time.Until(sess.ExpiresAt); left < DefaultSessionTTL-time.Minute || left > DefaultSessionTTL {
				t.Errorf("session expires in %v, want %v", left, DefaultSessionTTL)
			}
			if _, err := f.store.GetSession(ctx, c.Value); err == nil {
				t.Errorf("the raw token is a session key: the store must hold only its hash")
			}
		})
	}
}

func TestRequireAuth(t *testing.T) {
	t.Parallel()
	f := newAuthFixture(t)
	alice := f.addUser(t, "alice", "correct horse")
	cookie := f.login(t, f.srv, "alice", "correct horse")
	token, _ := f.addToken(t, alice)
	revoked, revokedID := f.addToken(t, alice)
	if err := f.store.RevokeAPIToken(context.Background(), revokedID); err != nil {
		t.Fatal(err)
	}
	expired, expiredHash, err := credentials.NewToken("")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.store.CreateSession(context.Background(), status.Session{TokenHash: expiredHash, UserID: alice.ID, ExpiresAt: time.Now().Add(-time.Minute)}); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name      string
		cookie    string
		authz     string
		wantUser  string // "" means 401
		wantError string // the WWW-Authenticate error parameter
	}{
		{name: "nothing is 401"},
		{name: "session cookie lets in", cookie: cookie.Value, wantUser: "alice"},
		{name: "bearer token lets in", authz: "Bearer " + token, wantUser: "alice"},
		{name: "bearer scheme is case-insensitive", authz: "bearer " + token, wantUser: "alice"},
		{name: "revoked token is 401", authz: "Bearer " + revoked, wantError: "invalid_token"},
		{name: "unknown token is 401", authz: "Bearer ff_nope", wantError: "invalid_token"},
		{name: "empty bearer is 401", authz: "Bearer ", wantError: "invalid_token"},
		{name: "huge bearer is 401", authz: "Bearer " + strings.Repeat("x", 10_000), wantError: "invalid_token"},
		{name: "basic auth is 401", authz: "Basic YWxpY2U6Y29ycmVjdCBob3JzZQ==", wantError: "invalid_token"},
		{name: "unknown session is 401", cookie: "forged", wantError: "invalid_token"},
		{name: "expired session is 401", cookie: expired, wantError: "invalid_token"},
		{name: "a bad token is not rescued by a good cookie", cookie: cookie.Value, authz: "Bearer ff_nope", wantError: "invalid_token"},
		{name: "the token hash is not a token", authz: "Bearer " + credentials.HashToken(token), wantError: "invalid_token"},
	}
	h := whoAmI(f.srv)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest("GET", "/api/whoami", nil)
			if tt.cookie != "" {
				r.AddCookie(&http.Cookie{Name: SessionCookie, Value: tt.cookie})
			}
			if tt.authz != "" {
				r.Header.Set("Authorization", tt.authz)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			if tt.wantUser != "" {
				if rec.Code != http.StatusOK || authBody(t, rec)["user"] != tt.wantUser {
					t.Fatalf("= %d %s, want 200 as %s", rec.Code, rec.Body, tt.wantUser)
				}
				return
			}
			if rec.Code != http.StatusUnauthorized {
				t.Fatalf("= %d %s, want 401", rec.Code, rec.Body)
			}
			challenge := rec.Header().Get("WWW-Authenticate")
			if !strings.HasPrefix(challenge, `Bearer realm="fastflow"`) {
				t.Errorf("WWW-Authenticate = %q", challenge)
			}
			if got := strings.Contains(challenge, `error="invalid_token"`); got != (tt.wantError != "") {
				t.Errorf("WWW-Authenticate = %q, want error %q", challenge, tt.wantError)
			}
			if authBody(t, rec)["error"] == "" {
				t.Errorf("401 body %s has no error", rec.Body)
			}
		})
	}
}

func TestSessionSurvivesRestart(t *testing.T) {
	t.Parallel()
	f := newAuthFixture(t)
	f.addUser(t, "alice", "correct horse")
	cookie := f.login(t, f.srv, "alice", "correct horse")

	restarted := f.newServer(t)
	r := httptest.NewRequest("GET", "/api/whoami", nil)
	r.AddCookie(cookie)
	rec := httptest.NewRecorder()
	whoAmI(restarted).ServeHTTP(rec, r)
	if rec.Code != http.StatusOK || authBody(t, rec)["user"] != "alice" {
		t.Fatalf("after a restart the session answers %d %s, want 200 as alice", rec.Code, rec.Body)
	}
}

func TestLogout(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		withCookie   bool
		contentType  string
		fetchSite    string
		wantCode     int
		wantLocation string
		wantLoggedIn bool // whether the session still works afterwards
	}{
		{name: "logout ends the session", withCookie: true, wantCode: http.StatusNoContent},
		{name: "form logout goes to the login form", withCookie: true, contentType: "application/x-www-form-urlencoded", wantCode: http.StatusSeeOther, wantLocation: "/login"},
		{name: "logout without a session does nothing", wantCode: http.StatusNoContent, wantLoggedIn: true},
		{name: "cross-site logout is refused", withCookie: true, fetchSite: "cross-site", wantCode: http.StatusForbidden, wantLoggedIn: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newAuthFixture(t)
			f.addUser(t, "alice", "correct horse")
			cookie := f.login(t, f.srv, "alice", "correct horse")

			r := httptest.NewRequest("POST", "/auth/logout", nil)
			if tt.withCookie {
				r.AddCookie(cookie)
			}
			if tt.contentType != "" {
				r.Header.Set("Content-Type", tt.contentType)
			}
			if tt.fetchSite != "" {
				r.Header.Set("Sec-Fetch-Site", tt.fetchSite)
			}
			rec := httptest.NewRecorder()
			f.srv.ServeHTTP(rec, r)
			if rec.Code != tt.wantCode || rec.Header().Get("Location") != tt.wantLocation {
				t.Fatalf("logout = %d (Location %q) %s, want %d (%q)", rec.Code, rec.Header().Get("Location"), rec.Body, tt.wantCode, tt.wantLocation)
			}
			if tt.wantCode != http.StatusForbidden {
				if c := sessionCookieOf(rec); c == nil || c.MaxAge >= 0 || c.Value != "" {
					t.Errorf("logout cookie %v, want it cleared", c)
				}
			}

			r = httptest.NewRequest("GET", "/api/whoami", nil)
			r.AddCookie(cookie)
			rec = httptest.NewRecorder()
			whoAmI(f.srv).ServeHTTP(rec, r)
			if loggedIn := rec.Code == http.StatusOK; loggedIn != tt.wantLoggedIn {
				t.Errorf("after logout the session answers %d, want logged in: %v", rec.Code, tt.wantLoggedIn)
			}
		})
	}
}

func TestCrossOriginCookieRequests(t *testing.T) {
	t.Parallel()
	f := newAuthFixture(t)
	alice := f.addUser(t, "alice", "correct horse")
	cookie := f.login(t, f.srv, "alice", "correct horse")
	token, _ := f.addToken(t, alice)

	tests := []struct {
		name     string
		method   string
		bearer   bool
		header   map[string]string
		wantCode int
	}{
		{name: "cross-site POST with a cookie is refused", method: "POST", header: map[string]string{"Sec-Fetch-Site": "cross-site"}, wantCode: http.StatusForbidden},
		{name: "same-site POST from another origin is refused", method: "POST", header: map[string]string{"Sec-Fetch-Site": "same-site"}, wantCode: http.StatusForbidden},
		{name: "POST with a foreign Origin is refused", method: "POST", header: map[string]string{"Origin": "https://evil.example"}, wantCode: http.StatusForbidden},
		{name: "cross-site DELETE with a cookie is refused", method: "DELETE", header: map[string]string{"Sec-Fetch-Site": "cross-site"}, wantCode: http.StatusForbidden},
		{name: "same-origin POST passes", method: "POST", header: map[string]string{"Sec-Fetch-Site": "same-origin"}, wantCode: http.StatusOK},
		{name: "POST with our own Origin passes", method: "POST", header: map[string]string{"Origin": "http://ff.example"}, wantCode: http.StatusOK},
		{name: "non-browser POST without either header passes", method: "POST", wantCode: http.StatusOK},
		{name: "cross-site GET is safe and passes", method: "GET", header: map[string]string{"Sec-Fetch-Site": "cross-site"}, wantCode: http.StatusOK},
		{name: "bearer POST is not cookie-based and passes", method: "POST", bearer: true, header: map[string]string{"Sec-Fetch-Site": "cross-site"}, wantCode: http.StatusOK},
	}
	h := whoAmI(f.srv)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(tt.method, "http://ff.example/api/sync", nil)
			if tt.bearer {
				r.Header.Set("Authorization", "Bearer "+token)
			} else {
				r.AddCookie(cookie)
			}
			for k, v := range tt.header {
				r.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			if rec.Code != tt.wantCode {
				t.Fatalf("= %d %s, want %d", rec.Code, rec.Body, tt.wantCode)
			}
		})
	}
}

// TestLoginRateLimit pins the limits through the handler: a client's
// typos are free, then it waits and even the right password is refused
// while it does, other clients and accounts are unaffected, and an account
// under attack from many addresses slows a new client by about a second
// instead of refusing it.
func TestLoginRateLimit(t *testing.T) {
	t.Parallel()
	f := newAuthFixture(t)
	f.addUser(t, "alice", "correct horse")
	f.addUser(t, "bob", "battery staple")
	f.addUser(t, "carol", "tr0ub4dor")
	f.addUser(t, "dave", "hunter2!")

	try := func(user, password, remote string) *httptest.ResponseRecorder {
		r := jsonLogin(user, password)
		r.RemoteAddr = remote
		rec := httptest.NewRecorder()
		f.srv.ServeHTTP(rec, r)
		return rec
	}

	// A success resets the client: 4 failures, a success, 4 failures
	// never reach the free 5.
	for i := range 9 {
		password, want := "wrong horse", http.StatusUnauthorized
		if i == 4 {
			password, want = "correct horse", http.StatusOK
		}
		if rec := try("alice", password, "192.0.2.1:1000"); rec.Code != want {
			t.Fatalf("attempt %d = %d %s, want %d", i+1, rec.Code, rec.Body, want)
		}
	}

	// Five free failures, then the client waits a second, and every try
	// meanwhile is refused before the password is looked at.
	var codes []int
	for range 8 {
		codes = append(codes, try("bob", "wrong", "192.0.2.2:1000").Code)
	}
	for i, code := range codes {
		want := http.StatusUnauthorized
		if i >= loginClientFree {
			want = http.StatusTooManyRequests
		}
		if code != want {
			t.Errorf("wrong password %d answered %d, want %d (all: %v)", i+1, code, want, codes)
		}
	}
	rec := try("bob", "battery staple", "192.0.2.2:1000")
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "1" {
		t.Errorf("right password while the client waits = %d, Retry-After %q; want 429 and 1", rec.Code, rec.Header().Get("Retry-After"))
	}
	// The client's wait is its own: the account is not locked, another
	// address gets in at once, and the waiting client may try other
	// accounts no sooner.
	start := time.Now()
	if rec := try("bob", "battery staple", "198.51.100.7:1000"); rec.Code != http.StatusOK || time.Since(start) > 500*time.Millisecond {
		t.Errorf("bob from another address = %d after %s, want 200 at once", rec.Code, time.Since(start))
	}
	if rec := try("dave", "hunter2!", "192.0.2.2:1000"); rec.Code != http.StatusTooManyRequests {
		t.Errorf("the waiting client on another account = %d, want 429", rec.Code)
	}

	// Ten addresses fail once each: carol is under attack. Each of them
	// now waits from its first failure; a new address waits a second and
	// gets in.
	for i := range loginUserBurst {
		if rec := try("carol", "wrong", "203.0.113."+strconv.Itoa(i+1)+":1000"); rec.Code != http.StatusUnauthorized {
			t.Fatalf("spray %d = %d, want 401", i+1, rec.Code)
		}
	}
	if rec := try("carol", "wrong", "203.0.113.1:1000"); rec.Code != http.StatusTooManyRequests {
		t.Errorf("a sprayer's second try under attack = %d, want 429", rec.Code)
	}
	start = time.Now()
	rec = try("carol", "tr0ub4dor", "198.51.100.9:1000")
	took := time.Since(start)
	if rec.Code != http.StatusOK || took < loginUnderAttackDelay || took > loginUnderAttackDelay+2*time.Second {
		t.Errorf("new address under attack: %d after %s, want 200 after about %s", rec.Code, took, loginUnderAttackDelay)
	}
}

// TestLoginBackoff pins the per-client delays on a fake clock.
func TestLoginBackoff(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	b := newLoginBackoff(clock.Now)
	fail := func(client string, underAttack bool) {
		t.Helper()
		a, wait, _ := b.begin(client, underAttack)
		if a == nil {
			t.Fatalf("%s refused for %s, want a try", client, wait)
		}
		a.failed()
		a.end()
	}
	mustWait := func(client string, underAttack bool, want time.Duration, wantBusy bool) {
		t.Helper()
		a, wait, busy := b.begin(client, underAttack)
		if a != nil || wait != want || busy != wantBusy {
			t.Fatalf("%s: attempt %v, wait %s, busy %v; want refused for %s, busy %v", client, a != nil, wait, busy, want, wantBusy)
		}
	}
	for range loginClientFree {
		fail("a", false)
	}
	// Each further failure doubles the wait.
	for _, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second} {
		mustWait("a", false, want, false)
		clock.Advance(want)
		fail("a", false)
	}
	mustWait("a", false, 16*time.Second, false)
	// Up to the cap.
	for range 20 {
		clock.Advance(loginBackoffMax)
		fail("a", false)
	}
	mustWait("a", false, loginBackoffMax, false)
	// Quiet for loginForget: a fresh start.
	clock.Advance(loginForget)
	fail("a", false)
	if a, _, _ := b.begin("a", false); a == nil || !a.seenFailing {
		t.Fatal("after loginForget: want a try from a client seen failing once")
	} else {
		a.end()
	}
	// Under attack a client has no free failures.
	fail("c", true)
	mustWait("c", true, time.Second, false)
	// A success forgets the client; one with nothing held is not kept.
	clock.Advance(time.Second)
	a, _, _ := b.begin("c", true)
	a.succeeded()
	a.end()
	if a, _, _ := b.begin("c", true); a == nil || a.seenFailing {
		t.Fatal("after a success: want a try from a client not seen failing")
	} else {
		a.end()
	}
	// At most loginClientInFlight tries of one client at once.
	var held []*loginAttempt
	for range loginClientInFlight {
		a, _, _ := b.begin("d", false)
		if a == nil {
			t.Fatal("refused below the in-flight bound")
		}
		held = append(held, a)
	}
	mustWait("d", false, time.Second, true)
	for _, a := range held {
		a.end()
	}
	if n := b.Len(); n != 1 { // "a": failing; "c" and "d" are gone
		t.Errorf("%d clients held, want 1", n)
	}
}
