package webui

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fastflow-dev/fastflow/status"
	"github.com/fastflow-dev/fastflow/status/credentials"
)

const (
	// SessionCookie is the cookie that carries a login session's token.
	SessionCookie = "fastflow_session"
	// DefaultSessionTTL is how long a login lasts.
	DefaultSessionTTL = 7 * 24 * time.Hour

	// A login is two short strings; anything bigger is not one.
	maxLoginBody = 16 << 10
	// maxBearerLen refuses absurd Authorization headers before hashing and
	// a database round trip; our tokens are 46 characters.
	maxBearerLen = 256

	// Failed logins slow down the client that makes them, not the account
	// (issue 11): a client (an address; an IPv6 /64) gets
	// loginClientFree failures in a row at full speed for typos, then
	// must wait loginBackoffBase before its next try, twice as long after
	// each further failure, up to loginBackoffMax. A client that stays
	// away for loginForget starts afresh; a success resets it at once.
	loginClientFree  = 5
	loginBackoffBase = time.Second
	loginBackoffMax  = 15 * time.Minute
	loginForget      = time.Hour
	// loginClientInFlight bounds one client's logins being checked at
	// once, so parallel tries cannot all slip in before the first
	// failure is counted; a person logs in once, and a few people behind
	// one NAT rarely at the same instant.
	loginClientInFlight = 4
	// loginUserBurst failures of one username within loginWindow, from
	// any clients, mark the account under attack. While it is, a client
	// gets no free failures (its delays start after its first), and a client
	// not seen failing waits loginUnderAttackDelay before its password is
	// checked: a guesser who changes addresses pays a second per address
	// and then its own growing delays, and the owner is slowed by a second,
	// never locked out.
	loginUserBurst        = 10
	loginWindow           = 5 * time.Minute
	loginUnderAttackDelay = time.Second
	// loginMaxKeys bounds each limiter's memory (about 100 bytes a key).
	loginMaxKeys = 10_000
)

var (
	// errNoCredentials: the request carried neither a session cookie nor
	// an Authorization header.
	errNoCredentials = errors.New("webui: no credentials")
	// errBadCredentials: it carried one, and it is unknown, expired,
	// revoked or malformed.
	errBadCredentials = errors.New("webui: invalid credentials")
	// errNoRoom: a webhook body needs more chunks than the whole budget
	// of unverified bodies has (see bodyRoom).
	errNoRoom = errors.New("webui: webhook body larger than the room for bodies")
)

// authUserKey is the context key of the authenticated user's name.
type authUserKey struct{}

// userFrom returns the name of the user requireAuth let in, or "" on a
// public route.
func userFrom(ctx context.Context) string {
	name, _ := ctx.Value(authUserKey{}).(string)
	return name
}

func withUser(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, authUserKey{}, name)
}

// sessionTTL is how long a new session lasts: Config.SessionTTL, or
// DefaultSessionTTL.
func (s *Server) sessionTTL() time.Duration {
	if s.cfg.SessionTTL > 0 {
		return s.cfg.SessionTTL
	}
	return DefaultSessionTTL
}

// secureCookie reports whether cookies set in answer to r are marked
// Secure: r came over TLS, or through a trusted proxy that says its client
// spoke https (the proxy's own hop to us is plain HTTP), or BASE_URL is
// https, which covers a proxy that is not trusted or sends no
// X-Forwarded-Proto.
func (s *Server) secureCookie(r *http.Request) bool { return viaHTTPS(r) || s.cfg.SecureCookies }

// loginLimits are what a login attempt is checked against: the client's
// growing delay and the username's failure count.
type loginLimits struct {
	clients *loginBackoff
	perUser *failureLimiter
}

// authRoutes registers /auth/login and /auth/logout. The rate limiters live
// in the handlers' closures, so every Server has its own and none is global.
func (s *Server) authRoutes() {
	limits := loginLimits{
		clients: newLoginBackoff(time.Now),
		perUser: newFailureLimiter(loginUserBurst, loginWindow, loginMaxKeys, time.Now),
	}
	// Login is protected too: a forged cross-site login would put the
	// victim in the attacker's account (login CSRF).
	cop := http.NewCrossOriginProtection()
	s.handle("POST", "/auth/login", true, s.handleLogin(cop, limits))
	s.handle("POST", "/auth/logout", true, s.handleLogout(cop))
}

// loginRequest is the body of POST /auth/login, as JSON or as a form.
type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// loginBodyError is a body readLogin refuses, with the answer it gets.
type loginBodyError struct {
	code int
	msg  string
}

func (e *loginBodyError) Error() string { return e.msg }

// readLogin decodes the credentials. form reports whether the request was a
// form post, which is answered with a redirect instead of JSON.
func readLogin(w http.ResponseWriter, r *http.Request) (req loginRequest, form bool, err error) {
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginBody)
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch mt {
	case "application/json":
		dec := json.NewDecoder(r.Body)
		if err := dec.Decode(&req); err != nil {
			return req, false, bodyError(err)
		}
		if dec.More() {
			return req, false, &loginBodyError{http.StatusBadRequest, "malformed body: more than one JSON value"}
		}
	case "application/x-www-form-urlencoded":
		form = true
		if err := r.ParseForm(); err != nil {
			return req, form, bodyError(err)
		}
		req.Username, req.Password = r.PostForm.Get("username"), r.PostForm.Get("password")
	default:
		return req, false, &loginBodyError{http.StatusUnsupportedMediaType, "send application/json or application/x-www-form-urlencoded"}
	}
	if req.Username == "" || req.Password == "" {
		return req, form, &loginBodyError{http.StatusBadRequest, "username and password are required"}
	}
	return req, form, nil
}

func bodyError(err error) error {
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return &loginBodyError{http.StatusRequestEntityTooLarge, "body too large"}
	}
	if isTimeout(err) {
		// Cut by Timeouts.Body: a body that trickles.
		return &loginBodyError{http.StatusRequestTimeout, "body not received in time"}
	}
	return &loginBodyError{http.StatusBadRequest, "malformed body"}
}

// handleLogin checks a username and password and starts a session.
//
// An unknown user and a wrong password get the same answer and cost the
// same bcrypt comparison (CheckPassword with an empty hash compares against
// a dummy), so neither the message nor the timing tells which names exist.
// Rate-limited attempts are refused before bcrypt runs: a guesser cannot
// make the server burn CPU either.
func (s *Server) handleLogin(cop *http.CrossOriginProtection, limits loginLimits) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := cop.Check(r); err != nil {
			writeError(w, http.StatusForbidden, "cross-origin request refused", nil)
			return
		}
		req, form, err := readLogin(w, r)
		// A form gets its answer as the login page again, with the reason,
		// keeping where the user was going.
		formFail := func(reason string) {
			to := "/login?error=" + reason
			if next := r.PostForm.Get("next"); next != "" {
				to += "&next=" + url.QueryEscape(localRedirect(next))
			}
			http.Redirect(w, r, to, http.StatusSeeOther)
		}
		if err != nil {
			be, _ := errors.AsType[*loginBodyError](err)
			if form && be.code == http.StatusBadRequest {
				formFail("missing")
				return
			}
			writeError(w, be.code, be.msg, nil)
			return
		}
		ctx := r.Context()
		client := clientKey(r)
		// Names that cannot exist are not tracked per user, so sprayed junk
		// names cannot fill the limiter; the client's delays still count
		// them.
		validName := credentials.ValidateUsername(req.Username) == nil
		userKey := ""
		if validName {
			userKey = req.Username
		}
		// The account is under attack once its failures from all clients
		// fill its bucket; that only changes how this client is treated.
		underAttack := false
		if userKey != "" {
			ok, _ := limits.perUser.Allow(userKey)
			underAttack = !ok
		}
		attempt, wait, busy := limits.clients.begin(client, underAttack)
		if attempt == nil {
			// Refused before bcrypt runs, and even the right password
			// waits: otherwise the guesser would learn from the answer
			// which guess was right.
			secs := max(1, int(math.Ceil(wait.Seconds())))
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			if form {
				formFail("ratelimited")
				return
			}
			msg := "too many failed logins"
			if busy {
				msg = "too many logins at once from this address"
			}
			writeError(w, http.StatusTooManyRequests, msg, "retry after "+strconv.Itoa(secs)+" seconds")
			return
		}
		defer attempt.end()
		if underAttack && !attempt.seenFailing {
			// A client not seen failing is slowed, not refused: the
			// owner on a new address gets in a second later.
			t := time.NewTimer(loginUnderAttackDelay)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return
			}
		}

		var user status.User
		if validName {
			user, err = s.cfg.Store.GetUser(ctx, req.Username)
			if err != nil && !errors.Is(err, status.ErrNotFound) {
				s.log.ErrorContext(ctx, "login", "err", err)
				writeError(w, http.StatusServiceUnavailable, "authentication unavailable", nil)
				return
			}
		}
		if !credentials.CheckPassword(user.PasswordHash, req.Password) {
			attempt.failed()
			if userKey != "" {
				limits.perUser.Fail(userKey)
			}
			// The name is logged only when it exists: people type their
			// password into the username field, and logs are kept.
			s.log.InfoContext(ctx, "login failed", "user", user.Username, "known_user", user.ID != 0, "client", client)
			if form {
				formFail("invalid")
				return
			}
			writeError(w, http.StatusUnauthorized, "invalid username or password", nil)
			return
		}
		// The client is forgotten; the username's count is not: one
		// success of the owner does not end an attack on the account.
		attempt.succeeded()

		token, hash, err := credentials.NewToken("")
		if err == nil {
			err = s.cfg.Store.CreateSession(ctx, status.Session{
				TokenHash: hash,
				UserID:    user.ID,
				ExpiresAt: time.Now().Add(s.sessionTTL()),
			})
		}
		if err != nil {
			s.log.ErrorContext(ctx, "login: create session", "user", user.Username, "err", err)
			writeError(w, http.StatusServiceUnavailable, "authentication unavailable", nil)
			return
		}
		// A session the browser held before is replaced, not kept alive
		// beside the new one.
		if old, err := r.Cookie(SessionCookie); err == nil && old.Value != "" {
			if err := s.cfg.Store.DeleteSession(ctx, credentials.HashToken(old.Value)); err != nil {
				s.log.WarnContext(ctx, "login: delete previous session", "err", err)
			}
		}
		// Logins are rare, so they are a fine moment to keep the sessions
		// table from growing without a background goroutine.
		if _, err := s.cfg.Store.DeleteExpiredSessions(ctx); err != nil {
			s.log.WarnContext(ctx, "login: delete expired sessions", "err", err)
		}
		http.SetCookie(w, s.sessionCookie(r, token, s.sessionTTL()))
		s.log.InfoContext(ctx, "login", "user", user.Username, "client", client)
		if form {
			http.Redirect(w, r, localRedirect(r.PostForm.Get("next")), http.StatusSeeOther)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"username": user.Username})
	}
}

// handleLogout ends the request's session, if it has one, and clears the
// cookie. Logging out without a session is not an error.
func (s *Server) handleLogout(cop *http.CrossOriginProtection) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := cop.Check(r); err != nil {
			writeError(w, http.StatusForbidden, "cross-origin request refused", nil)
			return
		}
		if c, err := r.Cookie(SessionCookie); err == nil && c.Value != "" {
			if err := s.cfg.Store.DeleteSession(r.Context(), credentials.HashToken(c.Value)); err != nil {
				// The cookie stays: the user must not believe they are
				// logged out while the session still works.
				s.log.ErrorContext(r.Context(), "logout", "err", err)
				writeError(w, http.StatusServiceUnavailable, "logout failed, try again", nil)
				return
			}
		}
		http.SetCookie(w, s.sessionCookie(r, "", -1))
		mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if mt == "application/x-www-form-urlencoded" {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

// sessionCookie is the session cookie; a negative ttl deletes it.
// HttpOnly keeps it from scripts, SameSite=Lax from most cross-site
// requests (CrossOriginProtection covers the rest).
func (s *Server) sessionCookie(r *http.Request, token string, ttl time.Duration) *http.Cookie {
	c := &http.Cookie{
		Name:     SessionCookie,
		Value:    token,
		Path:     "/",
		HttpOnly: true,
		Secure:   s.secureCookie(r),
		SameSite: http.SameSiteLaxMode,
	}
	if ttl < 0 {
		c.MaxAge = -1
	} else {
		c.MaxAge = int(ttl / time.Second)
	}
	return c
}

// requireAuth lets a request through only with a valid session cookie or
// bearer token, and puts the user's name in its context (userFrom).
//
// Cookie-authenticated unsafe requests must also be same-origin: the
// browser attaches cookies to cross-site requests on its own. Bearer
// requests skip that check, since a cross-site page cannot make a browser
// send an Authorization header without a CORS preflight we never grant.
func (s *Server) requireAuth(next http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, viaCookie, err := s.authenticate(r)
		if (errors.Is(err, errNoCredentials) || errors.Is(err, errBadCredentials)) && (wantsPage(r) || isPageForm(r)) {
			// A person at a browser gets the login form, and comes back
			// here after it (to the page a form was sent from); programs
			// keep getting a 401 they can act on.
			back := r.URL.RequestURI()
			if isPageForm(r) {
				back = refererPath(r)
			}
			to := "/login?next=" + url.QueryEscape(back)
			if errors.Is(err, errBadCredentials) {
				to += "&error=expired"
			}
			http.Redirect(w, r, to, http.StatusSeeOther)
			return
		}
		switch {
		case errors.Is(err, errNoCredentials):
			w.Header().Set("WWW-Authenticate", `Bearer realm="fastflow"`)
			writeError(w, http.StatusUnauthorized, "authentication required", nil)
			return
		case errors.Is(err, errBadCredentials):
			w.Header().Set("WWW-Authenticate", `Bearer realm="fastflow", error="invalid_token"`)
			writeError(w, http.StatusUnauthorized, "authentication required", "invalid, expired or revoked credentials")
			return
		case err != nil:
			s.log.ErrorContext(r.Context(), "authenticate", "err", err)
			writeError(w, http.StatusServiceUnavailable, "authentication unavailable", nil)
			return
		}
		if viaCookie {
			if err := cop.Check(r); err != nil {
				writeError(w, http.StatusForbidden, "cross-origin request refused", nil)
				return
			}
		}
		next.ServeHTTP(w, r.WithContext(withUser(r.Context(), user)))
	})
}

// authenticate returns the user behind r's credentials. An Authorization
// header wins over a cookie, and a bad one is refused even when a good
// cookie comes with it: a client that sends a token means that token.
func (s *Server) authenticate(r *http.Request) (user string, viaCookie bool, err error) {
	ctx := r.Context()
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, token, _ := strings.Cut(h, " ")
		token = strings.TrimSpace(token)
		if !strings.EqualFold(scheme, "Bearer") || token == "" || len(token) > maxBearerLen {
			return "", false, errBadCredentials
		}
		t, err := s.cfg.Store.GetAPIToken(ctx, credentials.HashToken(token))
		if err != nil {
			return "", false, lookupError(err)
		}
		return t.Username, false, nil
	}
	c, err := r.Cookie(SessionCookie)
	if err != nil || c.Value == "" {
		return "", false, errNoCredentials
	}
	if len(c.Value) > maxBearerLen {
		return "", false, errBadCredentials
	}
	sess, err := s.cfg.Store.GetSession(ctx, credentials.HashToken(c.Value))
	if err != nil {
		return "", false, lookupError(err)
	}
	return sess.Username, true, nil
}

// lookupError maps a store miss to errBadCredentials and keeps any other
// failure (the database is down) as it is: that is no reason to log out.
func lookupError(err error) error {
	if errors.Is(err, status.ErrNotFound) {
		return errBadCredentials
	}
	return err
}

// wantsPage reports whether r is a browser navigating to a page: a GET
// that accepts HTML, outside the API. fetch and EventSource do not ask for
// HTML, so they get the API's 401.
func wantsPage(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	if strings.HasPrefix(r.URL.Path, "/api/") {
		return false
	}
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

// isPageForm reports whether r is a page's form posted by a browser
// without JavaScript (app.js asks for JSON, and handles a 401 itself).
func isPageForm(r *http.Request) bool {
	if r.Method != http.MethodPost || strings.HasPrefix(r.URL.Path, "/api/") || wantsJSON(r) {
		return false
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mt == "application/x-www-form-urlencoded"
}

// refererPath is the page a form was sent from, when it is on this site,
// else "/".
func refererPath(r *http.Request) string {
	u, err := url.Parse(r.Referer())
	if err != nil || u.Host != r.Host {
		return "/"
	}
	return localRedirect(u.RequestURI())
}

// localRedirect returns next when it is a path on this site, else "/": a
// login link must not send the user to another site afterwards.
func localRedirect(next string) string {
	if next == "" || next[0] != '/' || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" {
		return "/"
	}
	return next
}

// loginBackoff is the per-client side of the login limits: a growing delay
// after each failed login (see loginClientFree and the constants after
// it), and a bound on a client's logins checked at once.
//
// It holds only clients that failed recently or are being checked; at
// loginMaxKeys the client that failed longest ago is dropped, which at
// worst gives that one a fresh start. It is safe for concurrent use.
type loginBackoff struct {
	now func() time.Time

	mu        sync.Mutex
	clients   map[string]*backoffState
	lastSweep time.Time
}

// backoffState is one client's failures: how many in a row (none older
// than loginForget apart) and when the last was.
type backoffState struct {
	failures int
	last     time.Time
	inFlight int
}

func newLoginBackoff(now func() time.Time) *loginBackoff {
	return &loginBackoff{now: now, clients: map[string]*backoffState{}}
}

// delayAfter is the wait a client owes after failures failures in a row:
// none before the free-th, loginBackoffBase after it, doubling with each
// further one up to loginBackoffMax. free is at least 1: a wait starts
// after a failure, never before the first try.
func delayAfter(failures, free int) time.Duration {
	free = max(free, 1)
	if failures < free {
		return 0
	}
	d := loginBackoffBase
	for i := free; i < failures && d < loginBackoffMax; i++ {
		d *= 2
	}
	return min(d, loginBackoffMax)
}

// loginAttempt is one login being checked; exactly one of failed and
// succeeded may be called, then end.
type loginAttempt struct {
	b      *loginBackoff
	client string
	// seenFailing: the client had failed before this attempt.
	seenFailing bool
}

// begin starts an attempt of client, or says how long it must wait and
// whether because of its failures or (busy) of its attempts in flight.
// With underAttack (the username has failed too often from anywhere) the
// client's delays start after its first failure.
func (b *loginBackoff) begin(client string, underAttack bool) (a *loginAttempt, wait time.Duration, busy bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	b.sweepLocked(now)
	st, ok := b.clients[client]
	if ok && st.failures > 0 && now.Sub(st.last) >= loginForget {
		st.failures = 0
	}
	if ok {
		free := loginClientFree
		if underAttack {
			free = 0
		}
		if wait := st.last.Add(delayAfter(st.failures, free)).Sub(now); st.failures > 0 && wait > 0 {
			return nil, wait, false
		}
		if st.inFlight >= loginClientInFlight {
			// bcrypt takes well under a second: one is done soon.
			return nil, time.Second, true
		}
	} else {
		if len(b.clients) >= loginMaxKeys {
			b.evictLocked()
		}
		st = &backoffState{}
		b.clients[client] = st
	}
	st.inFlight++
	return &loginAttempt{b: b, client: client, seenFailing: st.failures > 0}, 0, false
}

// failed counts a failure of the attempt's client.
func (a *loginAttempt) failed() {
	a.b.mu.Lock()
	defer a.b.mu.Unlock()
	if st, ok := a.b.clients[a.client]; ok {
		st.failures++
		st.last = a.b.now()
	}
}

// succeeded forgets the client's failures: it knows a password.
func (a *loginAttempt) succeeded() {
	a.b.mu.Lock()
	defer a.b.mu.Unlock()
	if st, ok := a.b.clients[a.client]; ok {
		st.failures = 0
	}
}

// end ends the attempt; a client with no failures and nothing in flight is
// not kept.
func (a *loginAttempt) end() {
	a.b.mu.Lock()
	defer a.b.mu.Unlock()
	st, ok := a.b.clients[a.client]
	if !ok {
		return
	}
	if st.inFlight > 0 {
		st.inFlight--
	}
	if st.failures == 0 && st.inFlight == 0 {
		delete(a.b.clients, a.client)
	}
}

// Len is the number of clients held.
func (b *loginBackoff) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.clients)
}

// sweepLocked drops clients quiet for loginForget, at most once a minute so
// the cost is spread over many attempts.
func (b *loginBackoff) sweepLocked(now time.Time) {
	if now.Sub(b.lastSweep) < time.Minute {
		return
	}
	b.lastSweep = now
	for k, st := range b.clients {
		if st.inFlight == 0 && now.Sub(st.last) >= loginForget {
			delete(b.clients, k)
		}
	}
}

// evictLocked drops the idle client that failed longest ago. O(n), but only
// at loginMaxKeys, when an attack is under way.
func (b *loginBackoff) evictLocked() {
	var (
		oldestKey string
		oldest    time.Time
		seen      bool
	)
	for k, st := range b.clients {
		if st.inFlight == 0 && (!seen || st.last.Before(oldest)) {
			oldestKey, oldest, seen = k, st.last, true
		}
	}
	if seen {
		delete(b.clients, oldestKey)
	}
}
