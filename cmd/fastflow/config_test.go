package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	c, err := configFrom(env{})
	if err != nil {
		t.Fatal(err)
	}
	want := config{
		DataDir:            "./data",
		LogsDir:            "./logs",
		PipelinesDir:       filepath.Join("./data", "pipelines"),
		GitBranch:          "main",
		GitHubAPIURL:       "https://api.github.com",
		ListenAddr:         ":8080",
		WorkerImage:        "ghcr.io/astral-sh/uv:python3.12-bookworm-slim",
		WorkerNetwork:      "bridge",
		UVCacheDir:         filepath.Join("./data", "uv_cache"),
		MaxConcurrentRuns:  10,
		ShutdownPolicy:     "detach",
		AdminUsername:      "admin",
		MinFreeDisk:        100 << 20,
		PreHeat:            true,
		LogStreamRateLimit: 100,
		JanitorInterval:    168 * time.Hour,
		HealthGrace:        time.Minute,
		Runtime:            "docker", K8sNamespace: "default", K8sScheduleTimeout: 5 * time.Minute,
		LeaderLease: 15 * time.Second, ReplicaGrace: 2 * time.Minute,
	}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
}

func TestConfigParses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		env     env
		check   func(t *testing.T, c config)
		wantErr string
	}{
		{
			name:  "interval in Go syntax",
			env:   env{"AUTO_SYNC_INTERVAL": "90s"},
			check: func(t *testing.T, c config) { assertEq(t, c.AutoSyncInterval, 90*time.Second) },
		},
		{
			name:  "interval in plain seconds",
			env:   env{"AUTO_SYNC_INTERVAL": "300"},
			check: func(t *testing.T, c config) { assertEq(t, c.AutoSyncInterval, 5*time.Minute) },
		},
		{
			name:  "pipelines dir follows data dir",
			env:   env{"DATA_DIR": "/srv/ff"},
			check: func(t *testing.T, c config) { assertEq(t, c.PipelinesDir, "/srv/ff/pipelines") },
		},
		{name: "bad interval", env: env{"AUTO_SYNC_INTERVAL": "soon"}, wantErr: `AUTO_SYNC_INTERVAL="soon"`},
		{name: "negative interval", env: env{"AUTO_SYNC_INTERVAL": "-5"}, wantErr: "must not be negative"},
		{name: "app id not a number", env: env{"GITHUB_APP_ID": "abc"}, wantErr: "GITHUB_APP_ID"},
		{name: "negative health grace", env: env{"HEALTH_GRACE": "-1m"}, wantErr: "HEALTH_GRACE must not be negative"},
		{name: "app without key", env: env{"GITHUB_APP_ID": "1", "GITHUB_INSTALLATION_ID": "2"}, wantErr: "GITHUB_PRIVATE_KEY_PATH"},
		{name: "mysql url", env: env{"DATABASE_URL": "mysql://x"}, wantErr: "DATABASE_URL"},
		{name: "bad log level", env: env{"LOG_LEVEL": "loud"}, wantErr: "LOG_LEVEL"},
		{name: "zero concurrency", env: env{"MAX_CONCURRENT_RUNS": "0"}, wantErr: "at least 1"},
		{name: "unknown runtime", env: env{"RUNTIME": "podman"}, wantErr: `RUNTIME="podman": want docker or kubernetes`},
		{name: "host wheelhouse on kubernetes", env: env{"RUNTIME": "kubernetes", "UV_FIND_LINKS": "/srv/wheels"}, wantErr: "UV_FIND_LINKS names a host folder"},
		{name: "concurrency not a number", env: env{"MAX_CONCURRENT_RUNS": "ten"}, wantErr: "MAX_CONCURRENT_RUNS"},
		{name: "unknown shutdown policy", env: env{"SHUTDOWN_POLICY": "pause"}, wantErr: "SHUTDOWN_POLICY"},
		{
			name:  "timeout in plain seconds",
			env:   env{"CONTAINER_TIMEOUT": "3600"},
			check: func(t *testing.T, c config) { assertEq(t, c.ContainerTimeout, time.Hour) },
		},
		{
			name:  "stall timeout as a duration",
			env:   env{"STALL_TIMEOUT": "45m"},
			check: func(t *testing.T, c config) { assertEq(t, c.StallTimeout, 45*time.Minute) },
		},
		{
			name:  "health grace as a duration",
			env:   env{"HEALTH_GRACE": "5m"},
			check: func(t *testing.T, c config) { assertEq(t, c.HealthGrace, 5*time.Minute) },
		},
		{
			name:  "health grace 0 turns the stop off",
			env:   env{"HEALTH_GRACE": "0"},
			check: func(t *testing.T, c config) { assertEq(t, c.HealthGrace, time.Duration(0)) },
		},
		{
			name:  "free disk threshold",
			env:   env{"MIN_FREE_DISK": "2g"},
			check: func(t *testing.T, c config) { assertEq(t, c.MinFreeDisk, int64(2<<30)) },
		},
		{
			name:  "free disk threshold by default",
			env:   env{},
			check: func(t *testing.T, c config) { assertEq(t, c.MinFreeDisk, int64(100<<20)) },
		},
		{name: "bad free disk threshold", env: env{"MIN_FREE_DISK": "lots"}, wantErr: "MIN_FREE_DISK"},
		{
			name:  "uv cache limit",
			env:   env{"UV_CACHE_MAX_SIZE": "10g"},
			check: func(t *testing.T, c config) { assertEq(t, c.UVCacheMaxSize, int64(10<<30)) },
		},
		{name: "bad uv cache limit", env: env{"UV_CACHE_MAX_SIZE": "-1g"}, wantErr: "UV_CACHE_MAX_SIZE"},
		{
			name:  "janitor interval",
			env:   env{"JANITOR_INTERVAL": "24h"},
			check: func(t *testing.T, c config) { assertEq(t, c.JanitorInterval, 24*time.Hour) },
		},
		{
			name:  "janitor off",
			env:   env{"JANITOR_INTERVAL": "0"},
			check: func(t *testing.T, c config) { assertEq(t, c.JanitorInterval, time.Duration(0)) },
		},
		{
			name: "janitor dry run and image pruning",
			env:  env{"JANITOR_DRY_RUN": "true", "JANITOR_PRUNE_IMAGES": "1"},
			check: func(t *testing.T, c config) {
				assertEq(t, c.JanitorDryRun, true)
				assertEq(t, c.JanitorPruneImages, true)
			},
		},
		{name: "bad janitor interval", env: env{"JANITOR_INTERVAL": "weekly"}, wantErr: `JANITOR_INTERVAL="weekly"`},
		{name: "negative janitor interval", env: env{"JANITOR_INTERVAL": "-1h"}, wantErr: "JANITOR_INTERVAL"},
		{name: "bad janitor dry run", env: env{"JANITOR_DRY_RUN": "maybe"}, wantErr: `JANITOR_DRY_RUN="maybe": want true or false`},
		{name: "bad image pruning", env: env{"JANITOR_PRUNE_IMAGES": "yes please"}, wantErr: "JANITOR_PRUNE_IMAGES"},
		{
			name:    "every problem at once",
			env:     env{"AUTO_SYNC_INTERVAL": "x", "LOG_LEVEL": "y"},
			wantErr: "AUTO_SYNC_INTERVAL=\"x\": want a duration such as \"90s\", \"5m\" or plain seconds\nLOG_LEVEL",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := configFrom(tt.env)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func TestDotenvLosesToEnvironment(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	dotenv := filepath.Join(dir, ".env")
	content := "# comment\nexport GIT_BRANCH=dev\nDATA_DIR = \"/data dir\"\nLISTEN_ADDR=:9090 # trailing comment\nGITHUB_WEBHOOK_SECRET='a#b'\n\n"
	if err := os.WriteFile(dotenv, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	e, err := loadEnv([]string{"GIT_BRANCH=prod"}, dotenv)
	if err != nil {
		t.Fatal(err)
	}
	want := env{"GIT_BRANCH": "prod", "DATA_DIR": "/data dir", "LISTEN_ADDR": ":9090", "GITHUB_WEBHOOK_SECRET": "a#b"}
	if diff := cmp.Diff(want, e); diff != "" {
		t.Errorf("env (-want +got):\n%s", diff)
	}

	if err := os.WriteFile(dotenv, []byte("NOT A PAIR\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadEnv(nil, dotenv); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("malformed .env: %v, want an error naming line 1", err)
	}
	if _, err := loadEnv(nil, filepath.Join(dir, "absent")); err != nil {
		t.Errorf("absent .env: %v", err)
	}
}

func assertEq[T comparable](t *testing.T, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestRepoOwnerName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url, owner, name string
		ok               bool
	}{
		{"https://github.com/acme/pipelines.git", "acme", "pipelines", true},
		{"https://github.com/acme/pipelines", "acme", "pipelines", true},
		{"https://x-access-token:t@ghe.example.com/acme/pipelines.git", "acme", "pipelines", true},
		{"git@github.com:acme/pipelines.git", "acme", "pipelines", true},
		{"ssh://git@github.com/acme/pipelines", "acme", "pipelines", true},
		{"/srv/git/pipelines", "", "", false},
		{"https://github.com/acme", "", "", false},
	}
	for _, tt := range tests {
		owner, name, ok := repoOwnerName(tt.url)
		if owner != tt.owner || name != tt.name || ok != tt.ok {
			t.Errorf("repoOwnerName(%q) = %q, %q, %v; want %q, %q, %v", tt.url, owner, name, ok, tt.owner, tt.name, tt.ok)
		}
	}
}
