package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/fastflow-dev/fastflow/internal/testenv"
	"github.com/fastflow-dev/fastflow/repo/gittest"
	"github.com/fastflow-dev/fastflow/status/secrets"
)

// The images scripts/image.sh and scripts/worker-image.sh build; `make test`
// runs both before the tests.
const (
	fastflowImage = "fastflow:local"
	workerImage   = "fastflow-worker:local"
	postgresImage = "fastflow-postgres:local"
)

// repoRoot is the checkout: docker-compose.yaml and the examples live there.
func repoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot find the test's own file")
	}
	return filepath.Dir(filepath.Dir(file))
}

// requireImages skips (fails under CI=true) unless the Compose CLI answers
// and every image is built.
func requireImages(t testing.TB, images ...string) {
	t.Helper()
	out, err := exec.Command("docker", "compose", "version", "--short").CombinedOutput()
	if err != nil {
		err = fmt.Errorf("docker compose version: %v: %s (scripts/compose-cli.sh installs it)", err, bytes.TrimSpace(out))
	}
	testenv.Require(t, "the Docker Compose CLI", err)
	for _, image := range images {
		if out, err := exec.Command("docker", "image", "inspect", "-f", "{{.Id}}", image).CombinedOutput(); err != nil {
			testenv.Require(t, "image "+image, fmt.Errorf("%v: %s (make test builds it: scripts/image.sh, scripts/worker-image.sh)", err, bytes.TrimSpace(out)))
		}
	}
}

// project is one `docker compose` project of the shipped compose file, with
// its own name, .env, FASTFLOW_HOME and host port, so tests never meet a
// user's installation or each other.
type project struct {
	t       testing.TB
	name    string
	dir     string // --project-directory: .env and the override file
	home    string // FASTFLOW_HOME
	url     string
	files   []string
	profile string
}

// newProject writes .env (the lines in env on top of the test's) and an
// override that lets the container reach the test's git server on the host.
func newProject(t testing.TB, gitURL string, env map[string]string, profile string) *project {
	t.Helper()
	root := repoRoot(t)
	p := &project{
		t:       t,
		name:    fmt.Sprintf("fastflow-test-%d", time.Now().UnixNano()%1e9),
		dir:     t.TempDir(),
		home:    t.TempDir(),
		profile: profile,
	}
	port := freePort(t)
	p.url = "http://127.0.0.1:" + port
	key, err := secrets.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	lines := map[string]string{
		"FASTFLOW_HOME":     p.home,
		"FASTFLOW_PORT":     "127.0.0.1:" + port,
		"FASTFLOW_IMAGE":    fastflowImage,
		"GIT_REPO_URL":      gitURL,
		"WORKER_BASE_IMAGE": workerImage,
		// The stand-in uv of the worker image needs no network.
		"WORKER_NETWORK": "none",
		"ENCRYPTION_KEY": key,
		"ADMIN_PASSWORD": "compose-test-password",
		"UV_PRE_HEAT":    "false",
		"LOG_LEVEL":      "debug",
	}
	for k, v := range env {
		lines[k] = v
	}
	var b strings.Builder
	for k, v := range lines {
		fmt.Fprintf(&b, "%s=%s\n", k, v)
	}
	writeFile(t, filepath.Join(p.dir, ".env"), b.String())
	override := filepath.Join(p.dir, "compose.test.yaml")
	writeFile(t, override, fmt.Sprintf(`services:
  fastflow:
    extra_hosts:
      - "host.docker.internal:%s"
`, hostAddress(t)))
	p.files = []string{filepath.Join(root, "docker-compose.yaml"), override}
	t.Cleanup(func() {
		// Logs first: they are what explains a failure.
		if t.Failed() {
			out, _ := p.composeErr("logs", "--no-color", "--tail", "200")
			t.Logf("docker compose logs:\n%s", out)
		}
		// Every profile: a plain down leaves the profile's services running.
		if out, err := p.composeErr("--profile", "*", "down", "--volumes", "--remove-orphans", "--timeout", "20"); err != nil {
			t.Errorf("docker compose down: %v\n%s", err, out)
		}
	})
	return p
}

// composeErr runs docker compose on the project and returns its combined
// output. The environment is trimmed to what the CLI needs: Compose lets
// the process environment win over .env, and a developer's shell must not
// change what the test deploys.
func (p *project) composeErr(args ...string) (string, error) {
	stdout, stderr, err := p.composeIn(nil, args...)
	return stdout + stderr, err
}

// composeIn runs docker compose with stdin and returns what it wrote to
// stdout and to stderr apart.
func (p *project) composeIn(stdin io.Reader, args ...string) (string, string, error) {
	all := []string{"compose", "--project-name", p.name, "--project-directory", p.dir}
	for _, f := range p.files {
		all = append(all, "--file", f)
	}
	if p.profile != "" {
		all = append(all, "--profile", p.profile)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", append(all, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "DOCKER_HOST=") || strings.HasPrefix(kv, "DOCKER_CONFIG=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Stdin = stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

func (p *project) compose(args ...string) string {
	p.t.Helper()
	out, err := p.composeErr(args...)
	if err != nil {
		p.t.Fatalf("docker compose %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// exec runs a command in the fastflow container, stdin from input, and
// returns its stdout.
func (p *project) exec(input string, args ...string) string {
	p.t.Helper()
	stdout, stderr, err := p.composeIn(strings.NewReader(input), append([]string{"exec", "-T", "fastflow"}, args...)...)
	if err != nil {
		p.t.Fatalf("docker compose exec fastflow %s: %v\n%s%s", strings.Join(args, " "), err, stdout, stderr)
	}
	return stdout
}

// up starts the project and waits until /health answers ok; it returns how
// long that took.
func (p *project) up() time.Duration {
	p.t.Helper()
	start := time.Now()
	p.compose("up", "--detach", "--no-build")
	p.waitHealthy(90 * time.Second)
	return time.Since(start)
}

func (p *project) waitHealthy(limit time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(limit)
	var last string
	for time.Now().Before(deadline) {
		var h struct {
			Status string `json:"status"`
		}
		code, body, err := p.request("GET", "/health", "", nil, &h)
		if err == nil && code == http.StatusOK && h.Status == "ok" {
			return
		}
		last = fmt.Sprintf("%d %s %v", code, body, err)
		time.Sleep(100 * time.Millisecond)
	}
	p.t.Fatalf("/health not ok after %s: last answer %s", limit, last)
}

// request calls the API; out, when not nil, receives the JSON body.
func (p *project) request(method, path, token string, body any, out any) (int, string, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, "", err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, p.url+path, rd)
	if err != nil {
		return 0, "", err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	client := http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return resp.StatusCode, "", err
	}
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, string(b), fmt.Errorf("decode %s %s: %w", method, path, err)
		}
	}
	return resp.StatusCode, string(b), nil
}

func (p *project) mustRequest(method, path, token string, body any, want int, out any) string {
	p.t.Helper()
	code, text, err := p.request(method, path, token, body, out)
	if err != nil || code != want {
		p.t.Fatalf("%s %s: %d %s (err %v), want %d", method, path, code, text, err, want)
	}
	return text
}

type runJSON struct {
	ID       string `json:"id"`
	Pipeline string `json:"pipeline"`
	Status   string `json:"status"`
}

// TestCompose deploys the shipped docker-compose.yaml with the real Compose
// CLI, as the README tells a user to: up, /health, a token made in the
// container, a run of an example through the API, then down and up again
// and everything still there. Once on SQLite, once with the postgres
// profile.
func TestCompose(t *testing.T) {
	requireImages(t, fastflowImage, workerImage)
	root := repoRoot(t)

	tests := []struct {
		name    string
		profile string
		env     map[string]string
		images  []string
	}{
		{name: "sqlite"},
		{
			name:    "postgres",
			profile: "postgres",
			env: map[string]string{
				"POSTGRES_IMAGE":    postgresImage,
				"POSTGRES_PASSWORD": "compose-pg-password",
				"DATABASE_URL":      "postgres://fastflow:compose-pg-password@postgres:5432/fastflow?sslmode=disable",
			},
			images: []string{postgresImage},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			requireImages(t, tt.images...)
			remote := gittest.New(t)
			hello, err := os.ReadFile(filepath.Join(root, "examples", "pipelines", "hello", "main.py"))
			if err != nil {
				t.Fatal(err)
			}
			remote.Commit("the hello example", map[string]string{"hello/main.py": string(hello)})

			p := newProject(t, serveGit(t, remote.Dir), tt.env, tt.profile)
			took := p.up()
			t.Logf("docker compose up -d to /health ok: %s", took.Round(time.Millisecond))

			token := strings.TrimSpace(p.exec("", "fastflow", "token", "create", "compose-test"))
			if token == "" {
				t.Fatal("token create printed no token")
			}
			p.exec("s3cret-value\n", "fastflow", "secret", "set", "COMPOSE_SECRET")

			var run runJSON
			p.mustRequest("POST", "/api/pipelines/hello/run", token, map[string]any{}, http.StatusCreated, &run)
			final := waitRun(t, p, token, run.ID)
			if final.Status != "SUCCESS" {
				t.Fatalf("run %s ended %s, want SUCCESS", run.ID, final.Status)
			}
			logText := p.mustRequest("GET", "/api/runs/"+run.ID+"/logs?format=text", token, nil, http.StatusOK, nil)
			if !strings.Contains(logText, "Hello from Fast-Flow!") {
				t.Fatalf("run log lacks the example's greeting:\n%s", logText)
			}

			p.compose("down", "--timeout", "20")
			if _, _, err := p.request("GET", "/healthz", "", nil, nil); err == nil {
				t.Fatal("the server still answers after docker compose down")
			}
			p.up()

			// The history, the token and the secret survived.
			var again runJSON
			p.mustRequest("GET", "/api/runs/"+run.ID, token, nil, http.StatusOK, &again)
			if again.Status != "SUCCESS" || again.Pipeline != "hello" {
				t.Fatalf("after down and up the run is %+v, want hello SUCCESS", again)
			}
			var list struct {
				Items []struct {
					Key  string `json:"key"`
					Name string `json:"name"`
				} `json:"items"`
			}
			text := p.mustRequest("GET", "/api/secrets", token, nil, http.StatusOK, &list)
			if !strings.Contains(text, "COMPOSE_SECRET") {
				t.Fatalf("after down and up the secrets are %s, want COMPOSE_SECRET", text)
			}
			if out := p.exec("", "fastflow", "secret", "list"); !strings.Contains(out, "COMPOSE_SECRET") {
				t.Fatalf("fastflow secret list in the container: %s", out)
			}
			logText = p.mustRequest("GET", "/api/runs/"+run.ID+"/logs?format=text", token, nil, http.StatusOK, nil)
			if !strings.Contains(logText, "Hello from Fast-Flow!") {
				t.Fatalf("after down and up the log is gone:\n%s", logText)
			}
			if tt.profile == "" {
				backupAndRestore(t, p, token, run.ID)
			}
		})
	}
}

// backupAndRestore follows docs/deploy.md: a backup taken in the running
// container, the data folder moved aside, a restore through `compose run`,
// and the server back with the run, the token and the secret.
func backupAndRestore(t *testing.T, p *project, token, runID string) {
	t.Helper()
	data := filepath.Join(p.home, "data")
	backup := filepath.Join(data, "backup.db")
	p.exec("", "fastflow", "backup", backup)
	saved := filepath.Join(t.TempDir(), "backup.db")
	if err := os.Rename(backup, saved); err != nil {
		t.Fatal(err)
	}
	p.compose("stop", "fastflow")
	if err := os.Rename(data, data+".old"); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(data, 0o750); err != nil {
		t.Fatal(err)
	}
	p.compose("run", "--rm", "--no-deps", "-T", "-v", saved+":/backup.db:ro", "fastflow", "restore", "/backup.db")
	p.compose("up", "--detach", "--no-build")
	p.waitHealthy(90 * time.Second)
	var r runJSON
	p.mustRequest("GET", "/api/runs/"+runID, token, nil, http.StatusOK, &r)
	if r.Status != "SUCCESS" {
		t.Fatalf("after the restore the run is %+v, want SUCCESS", r)
	}
	if out := p.exec("", "fastflow", "secret", "list"); !strings.Contains(out, "COMPOSE_SECRET") {
		t.Fatalf("after the restore fastflow secret list says: %s", out)
	}
}

func waitRun(t *testing.T, p *project, token, id string) runJSON {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var r runJSON
		p.mustRequest("GET", "/api/runs/"+id, token, nil, http.StatusOK, &r)
		switch r.Status {
		case "SUCCESS", "FAILED", "CANCELLED", "INTERRUPTED":
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %s still %s after 2 minutes", id, r.Status)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// serveGit serves the repository in dir over Git's smart HTTP protocol with
// the real git http-backend, as GitHub serves a user's repository, and
// returns its URL as the container sees it. The image has no git binary,
// so a local path would not do (go-git runs git-upload-pack for those).
func serveGit(t testing.TB, dir string) string {
	t.Helper()
	backend := "/usr/lib/git-core/git-http-backend"
	if _, err := os.Stat(backend); err != nil {
		testenv.Require(t, "git http-backend", err)
	}
	h := &cgi.Handler{
		Path: backend,
		Env:  []string{"GIT_PROJECT_ROOT=" + filepath.Dir(dir), "GIT_HTTP_EXPORT_ALL=1"},
	}
	// On every address: the container reaches the host through its
	// network's gateway, not loopback.
	l, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(l)
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		<-done
	})
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return "http://host.docker.internal:" + port + "/" + filepath.Base(dir)
}

// hostAddress is an address of this host that containers reach through
// their network's gateway: the first IPv4 address of an interface that is
// not loopback or Docker's own. Docker's "host-gateway" would do only while
// its docker0 bridge exists, which a daemon started with --bridge=none (the
// chaos tests' private one) does not keep.
func hostAddress(t testing.TB) string {
	t.Helper()
	ifaces, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 ||
			strings.HasPrefix(ifc.Name, "docker") || strings.HasPrefix(ifc.Name, "br-") || strings.HasPrefix(ifc.Name, "veth") {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLinkLocalUnicast() {
				return n.IP.String()
			}
		}
	}
	return "host-gateway"
}

func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
