package deploy

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestEnvExampleCoversREADME: every variable of README.md's configuration
// table and every ${VAR} the compose file reads is in .env.example, so a
// newcomer who copies it sees every setting there is.
func TestEnvExampleCoversREADME(t *testing.T) {
	root := repoRoot(t)
	example := readFile(t, filepath.Join(root, ".env.example"))
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^#?([A-Z][A-Z0-9_]*)=`).FindAllStringSubmatch(example, -1) {
		documented[m[1]] = true
	}

	var want []string
	inTable := false
	sc := bufio.NewScanner(strings.NewReader(readFile(t, filepath.Join(root, "README.md"))))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "| Variable |"):
			inTable = true
			continue
		case inTable && strings.HasPrefix(line, "|"):
		case inTable && strings.TrimSpace(line) == "":
			continue // the table has a blank line in it
		default:
			inTable = false
			continue
		}
		first := strings.SplitN(line, "|", 3)[1]
		for _, m := range regexp.MustCompile("`([A-Z][A-Z0-9_]*)`").FindAllStringSubmatch(first, -1) {
			want = append(want, m[1])
		}
	}
	if len(want) < 20 {
		t.Fatalf("found only %d variables in README.md's configuration table: %v", len(want), want)
	}
	compose := readFile(t, filepath.Join(root, "docker-compose.yaml"))
	for _, m := range regexp.MustCompile(`\$\{([A-Z][A-Z0-9_]*)`).FindAllStringSubmatch(compose, -1) {
		want = append(want, m[1])
	}
	for _, v := range want {
		if !documented[v] {
			t.Errorf(".env.example lacks %s", v)
		}
	}
}

// TestComposeConfig renders docker-compose.yaml with the real Compose CLI
// (`docker compose config`) and checks what a deployment depends on: the
// state folders mounted at the same absolute path they are configured at,
// the socket, the health check, the restart policy and a stop grace long
// enough for SHUTDOWN_POLICY=stop; the postgres service only in its profile.
func TestComposeConfig(t *testing.T) {
	requireImages(t)
	remote := "http://host.docker.internal:1/pipelines"
	p := newProject(t, remote, nil, "")
	var cfg struct {
		Services map[string]struct {
			Environment map[string]*string `json:"environment"`
			Volumes     []struct {
				Type, Source, Target string
			} `json:"volumes"`
			Healthcheck *struct {
				Test []string `json:"test"`
			} `json:"healthcheck"`
			Restart         string `json:"restart"`
			StopGracePeriod string `json:"stop_grace_period"`
			Profiles        []string
		} `json:"services"`
	}
	if err := json.Unmarshal([]byte(p.compose("config", "--format", "json")), &cfg); err != nil {
		t.Fatal(err)
	}
	ff, ok := cfg.Services["fastflow"]
	if !ok {
		t.Fatalf("no fastflow service: %+v", cfg.Services)
	}
	if _, ok := cfg.Services["postgres"]; ok {
		t.Error("the postgres service is active without --profile postgres")
	}
	mounts := map[string]string{}
	for _, v := range ff.Volumes {
		mounts[v.Target] = v.Source
	}
	for _, name := range []string{"DATA_DIR", "LOGS_DIR", "UV_CACHE_DIR"} {
		val := ff.Environment[name]
		if val == nil || !strings.HasPrefix(*val, p.home+"/") {
			t.Errorf("%s = %v, want a folder under FASTFLOW_HOME %s", name, val, p.home)
			continue
		}
		if src, ok := mounts[*val]; !ok || src != *val {
			t.Errorf("%s=%s is mounted from %q, want the same path on the host", name, *val, src)
		}
	}
	if mounts["/var/run/docker.sock"] != "/var/run/docker.sock" {
		t.Errorf("the Docker socket is not mounted: %v", mounts)
	}
	if ff.Healthcheck == nil || !strings.Contains(strings.Join(ff.Healthcheck.Test, " "), "fastflow health") {
		t.Errorf("health check %+v, want fastflow health", ff.Healthcheck)
	}
	if ff.Restart != "unless-stopped" {
		t.Errorf("restart %q, want unless-stopped", ff.Restart)
	}
	grace, err := time.ParseDuration(ff.StopGracePeriod)
	if err != nil || grace < 30*time.Second {
		t.Errorf("stop_grace_period %q, want at least 30s for SHUTDOWN_POLICY=stop", ff.StopGracePeriod)
	}

	pg := newProject(t, remote, map[string]string{"POSTGRES_PASSWORD": "x"}, "postgres")
	if err := json.Unmarshal([]byte(pg.compose("config", "--format", "json")), &cfg); err != nil {
		t.Fatal(err)
	}
	if _, ok := cfg.Services["postgres"]; !ok {
		t.Error("no postgres service with --profile postgres")
	}
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
