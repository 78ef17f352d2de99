package repo

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"github.com/fastflow-dev/fastflow/repo/gittest"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v4"
)

// fakeGitHub issues installation tokens the way api.github.com does, after
// checking the App JWT, and serves a repository over smart HTTP (git
// http-backend) to clients that present a token it issued.
type fakeGitHub struct {
	t        *testing.T
	key      *rsa.PrivateKey
	appID    int64
	instID   int64
	lifetime time.Duration

	mu       sync.Mutex
	issued   map[string]bool
	requests int
	api      *httptest.Server
	git      *httptest.Server
}

func newFakeGitHub(t *testing.T, repoRoot string) *fakeGitHub {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeGitHub{t: t, key: key, appID: 7, instID: 42, lifetime: time.Hour, issued: map[string]bool{}}

	api := http.NewServeMux()
	api.HandleFunc(fmt.Sprintf("POST /api/v3/app/installations/%d/access_tokens", f.instID), f.issueToken)
	f.api = httptest.NewServer(api)
	t.Cleanup(f.api.Close)

	execPath, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		t.Fatalf("git --exec-path: %v", err)
	}
	backend := &cgi.Handler{
		Path: filepath.Join(strings.TrimSpace(string(execPath)), "git-http-backend"),
		Env:  []string{"GIT_PROJECT_ROOT=" + repoRoot, "GIT_HTTP_EXPORT_ALL=1"},
	}
	f.git = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		f.mu.Lock()
		valid := ok && user == "x-access-token" && f.issued[pass]
		f.mu.Unlock()
		if !valid {
			w.Header().Set("WWW-Authenticate", `Basic realm="GitHub"`)
			http.Error(w, "bad credentials", http.StatusUnauthorized)
			return
		}
		backend.ServeHTTP(w, r)
	}))
	t.Cleanup(f.git.Close)
	return f
}

func (f *fakeGitHub) issueToken(w http.ResponseWriter, r *http.Request) {
	raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		http.Error(w, `{"message":"A JSON web token could not be decoded"}`, http.StatusUnauthorized)
		return
	}
	claims := &jwt.RegisteredClaims{}
	_, err := jwt.ParseWithClaims(raw, claims, func(tok *jwt.Token) (any, error) {
		if tok.Method != jwt.SigningMethodRS256 {
			return nil, fmt.Errorf("unexpected signing method %v", tok.Header["alg"])
		}
		return &f.key.PublicKey, nil
	})
	switch {
	case err != nil:
		http.Error(w, `{"message":"'Issued at' claim or signature invalid"}`, http.StatusUnauthorized)
		return
	case claims.Issuer != fmt.Sprint(f.appID):
		http.Error(w, `{"message":"Integration not found"}`, http.StatusUnauthorized)
		return
	case claims.ExpiresAt.Sub(claims.IssuedAt.Time) > 10*time.Minute:
		http.Error(w, `{"message":"Expiration time' claim ('exp') is too far in the future"}`, http.StatusUnauthorized)
		return
	}
	f.mu.Lock()
	f.requests++
	token := fmt.Sprintf("ghs_test_%d", f.requests)
	f.issued[token] = true
	lifetime := f.lifetime
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"token":      token,
		"expires_at": time.Now().Add(lifetime).UTC().Format(time.RFC3339),
	})
}

func (f *fakeGitHub) tokenRequests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests
}

func (f *fakeGitHub) pemKey() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(f.key)})
}

// servedRepo is a work repository with one commit and a directory holding a
// bare clone of it as pipelines.git, ready for git http-backend.
func servedRepo(t *testing.T) (*gittest.Remote, string) {
	t.Helper()
	work := gittest.New(t)
	work.Commit("one", map[string]string{"hello/main.py": helloMain})
	served := t.TempDir()
	work.Git("clone", "-q", "--bare", work.Dir, filepath.Join(served, "pipelines.git"))
	return work, served
}

func TestGitHubAppSyncOverHTTP(t *testing.T) {
	t.Parallel()
	work, served := servedRepo(t)
	push := func(msg string) string {
		sha := work.Commit(msg, map[string]string{"hello/" + msg + ".txt": msg})
		work.Git("push", "-q", filepath.Join(served, "pipelines.git"), "main")
		return sha
	}

	tests := []struct {
		name         string
		lifetime     time.Duration
		wantRequests int
	}{
		{name: "token reused while far from expiry", lifetime: time.Hour, wantRequests: 1},
		{name: "token renewed when close to expiry", lifetime: 30 * time.Second, wantRequests: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gh := newFakeGitHub(t, served)
			gh.lifetime = tt.lifetime
			app, err := NewGitHubApp(GitHubAppConfig{AppID: gh.appID, InstallationID: gh.instID, PrivateKey: gh.pemKey(), APIURL: gh.api.URL + "/api/v3/"})
			if err != nil {
				t.Fatal(err)
			}
			s, _ := newTestSyncer(t, gh.git.URL+"/pipelines.git")
			s.cfg.Auth = app

			mustSync(t, s, OutcomeUpdated)
			sha := push(strings.ReplaceAll(t.Name(), "/", "-"))
			res := mustSync(t, s, OutcomeUpdated)
			if res.Snapshot.Revision != sha {
				t.Errorf("live = %s, want pushed %s", res.Snapshot.Revision, sha)
			}
			mustSync(t, s, OutcomeUnchanged)
			if got := gh.tokenRequests(); got != tt.wantRequests {
				t.Errorf("token requests = %d over 3 syncs, want %d", got, tt.wantRequests)
			}
		})
	}
}

func TestGitHubAppWrongKeyIsRefused(t *testing.T) {
	t.Parallel()
	_, served := servedRepo(t)
	gh := newFakeGitHub(t, served)

	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	wrong := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(other)})
	app, err := NewGitHubApp(GitHubAppConfig{AppID: gh.appID, InstallationID: gh.instID, PrivateKey: wrong, APIURL: gh.api.URL + "/api/v3"})
	if err != nil {
		t.Fatal(err)
	}
	s, _ := newTestSyncer(t, gh.git.URL+"/pipelines.git")
	s.cfg.Auth = app
	res, err := s.Sync(context.Background())
	if err == nil || res.Outcome != OutcomeFailed {
		t.Fatalf("sync with a wrong App key = %s, %v; want failure", res.Outcome, err)
	}
	if !strings.Contains(err.Error(), "installation token") {
		t.Errorf("error %q does not say the installation token was refused", err)
	}
}

func TestHTTPTokenRefusedIsErrAuth(t *testing.T) {
	t.Parallel()
	_, served := servedRepo(t)
	gh := newFakeGitHub(t, served)

	s, _ := newTestSyncer(t, gh.git.URL+"/pipelines.git")
	s.cfg.Auth = TokenAuth{Token: "ghp_not_issued"}
	_, err := s.Sync(context.Background())
	if !errors.Is(err, ErrAuth) {
		t.Fatalf("sync with a refused token: %v, want ErrAuth", err)
	}
	if strings.Contains(err.Error(), "ghp_not_issued") {
		t.Errorf("error leaks the token: %v", err)
	}
}

func TestRedactURL(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"https://x-access-token:ghs_secret@github.com/o/r.git": "https://***@github.com/o/r.git",
		"https://github.com/o/r.git":                           "https://github.com/o/r.git",
		"/srv/git/pipelines":                                   "/srv/git/pipelines",
		"git@github.com:o/r.git":                               "git@github.com:o/r.git",
	}
	for in, want := range tests {
		if got := redactURL(in); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
}
