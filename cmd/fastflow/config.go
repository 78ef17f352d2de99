package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/fastflow-dev/fastflow/schemas"
	"github.com/fastflow-dev/fastflow/webui"
)

// config is every setting of DESIGN.md, read from the environment (and an
// optional .env file) once, in one place. No other package reads the
// environment; each gets its own options struct filled from this.
type config struct {
	DatabaseURL  string
	DataDir      string
	LogsDir      string
	PipelinesDir string

	GitRepoURL       string
	GitBranch        string
	GitToken         string
	GitSSHKeyPath    string
	GitSSHKnownHosts string
	AutoSyncInterval time.Duration

	GitHubAppID          int64
	GitHubInstallationID int64
	GitHubPrivateKeyPath string
	GitHubWebhookSecret  string
	GitHubAPIURL         string

	ListenAddr string
	// MetricsListenAddr (METRICS_LISTEN_ADDR) serves /metrics without
	// authentication on an address of its own, meant for a private
	// interface; empty serves it only on ListenAddr, behind a token.
	MetricsListenAddr string
	BaseURL           string
	// TrustedProxies are the reverse proxies whose forwarded headers are
	// believed (TRUSTED_PROXIES); empty believes none.
	TrustedProxies []netip.Prefix
	LogLevel       slog.Level
	DockerHost     string

	WorkerImage       string
	WorkerNetwork     string
	UVCacheDir        string
	UVCacheMaxSize    int64
	UVFindLinks       string
	MaxConcurrentRuns int
	ContainerTimeout  time.Duration
	StallTimeout      time.Duration
	HealthGrace       time.Duration
	RetryAttempts     int
	LogMaxSizeMB      int
	MinFreeDisk       int64
	// LogRetentionRuns, LogRetentionDays and RunHistoryDays are the
	// retention rules (0: keep); RetentionInterval the sweep period.
	LogRetentionRuns  int
	LogRetentionDays  int
	RunHistoryDays    int
	RetentionInterval time.Duration
	// JanitorInterval is the janitor's period (0: off); JanitorDryRun
	// only reports; JanitorPruneImages adds dangling images.
	JanitorInterval    time.Duration
	JanitorDryRun      bool
	JanitorPruneImages bool
	ShutdownPolicy     string
	// ReplicaID names this replica among those sharing DATABASE_URL
	// (empty: made up at start); LeaderLease bounds a dead leader's
	// reign.
	// Runtime is "docker" or "kubernetes"; Kubeconfig (empty: the pod's
	// service account), K8sNamespace, K8sScheduleTimeout and UVCachePVC
	// configure the latter.
	Runtime            string
	Kubeconfig         string
	K8sNamespace       string
	K8sScheduleTimeout time.Duration
	UVCachePVC         string
	ReplicaID          string
	LeaderLease        time.Duration
	ReplicaGrace       time.Duration

	PreHeat            bool
	EncryptionKey      string
	AdminUsername      string
	AdminPassword      string
	LogStreamRateLimit int
}

// env is the merged environment: the process environment wins over .env, so
// a deployment can override a checked-in file.
type env map[string]string

// loadEnv merges environ with the .env file at dotenv (absent is fine).
func loadEnv(environ []string, dotenv string) (env, error) {
	e := env{}
	if f, err := os.Open(dotenv); err == nil {
		defer f.Close()
		if err := parseDotenv(f, e); err != nil {
			return nil, fmt.Errorf("read %s: %w", dotenv, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("open %s: %w", dotenv, err)
	}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			e[k] = v
		}
	}
	return e, nil
}

// parseDotenv reads KEY=VALUE lines; blank lines and # comments are skipped,
// an `export ` prefix is allowed, and a value may be quoted. It does not
// expand variables: what is written is what is used.
func parseDotenv(r io.Reader, into env) error {
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		k, v, ok := strings.Cut(line, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return fmt.Errorf("line %d: want KEY=VALUE", n)
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		} else if i := strings.Index(v, " #"); i >= 0 {
			v = strings.TrimSpace(v[:i])
		}
		into[k] = v
	}
	return sc.Err()
}

// configFrom parses and checks every setting and reports all bad ones at
// once, so a broken deployment is fixed in one round.
func configFrom(e env) (config, error) {
	var errs []error
	str := func(key, def string) string {
		if v, ok := e[key]; ok && v != "" {
			return v
		}
		return def
	}
	// durOr is dur with a default for an unset key; an explicit 0 stays 0.
	durOr := func(key string, def time.Duration) time.Duration {
		v := str(key, "")
		if v == "" {
			return def
		}
		d, err := parseDuration(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: %w", key, v, err))
		}
		return d
	}
	dur := func(key string) time.Duration {
		v := str(key, "")
		if v == "" {
			return 0
		}
		d, err := parseDuration(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: %w", key, v, err))
		}
		return d
	}
	id := func(key string) int64 {
		v := str(key, "")
		if v == "" {
			return 0
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			errs = append(errs, fmt.Errorf("%s=%q: want a positive number", key, v))
		}
		return n
	}

	num := func(key string, def int) int {
		v := str(key, "")
		if v == "" {
			return def
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			errs = append(errs, fmt.Errorf("%s=%q: want a whole number, 0 or more", key, v))
		}
		return n
	}

	// size reads a size as pipeline.json's memory limits take it:
	// "512m", "2g", or plain bytes; "0" turns the check off.
	size := func(key, def string) int64 {
		v := str(key, def)
		n, err := schemas.ParseMemory(v)
		if err != nil || n < 0 {
			errs = append(errs, fmt.Errorf("%s=%q: want a size such as \"500m\" or \"2g\", or 0", key, v))
		}
		return n
	}

	boolean := func(key string, def bool) bool {
		v := str(key, "")
		if v == "" {
			return def
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: want true or false", key, v))
		}
		return b
	}

	c := config{
		DatabaseURL:          str("DATABASE_URL", ""),
		DataDir:              str("DATA_DIR", "./data"),
		LogsDir:              str("LOGS_DIR", "./logs"),
		GitRepoURL:           str("GIT_REPO_URL", ""),
		GitBranch:            str("GIT_BRANCH", "main"),
		GitToken:             str("GIT_TOKEN", ""),
		GitSSHKeyPath:        str("GIT_SSH_KEY_PATH", ""),
		GitSSHKnownHosts:     str("GIT_SSH_KNOWN_HOSTS", ""),
		AutoSyncInterval:     dur("AUTO_SYNC_INTERVAL"),
		GitHubAppID:          id("GITHUB_APP_ID"),
		GitHubInstallationID: id("GITHUB_INSTALLATION_ID"),
		GitHubPrivateKeyPath: str("GITHUB_PRIVATE_KEY_PATH", ""),
		GitHubWebhookSecret:  str("GITHUB_WEBHOOK_SECRET", ""),
		GitHubAPIURL:         str("GITHUB_API_URL", "https://api.github.com"),
		ListenAddr:           str("LISTEN_ADDR", ":8080"),
		MetricsListenAddr:    str("METRICS_LISTEN_ADDR", ""),
		BaseURL:              str("BASE_URL", ""),
		DockerHost:           str("DOCKER_HOST", ""),
		WorkerImage:          str("WORKER_BASE_IMAGE", "ghcr.io/astral-sh/uv:python3.12-bookworm-slim"),
		WorkerNetwork:        str("WORKER_NETWORK", "bridge"),
		UVFindLinks:          str("UV_FIND_LINKS", ""),
		MaxConcurrentRuns:    num("MAX_CONCURRENT_RUNS", 10),
		ContainerTimeout:     dur("CONTAINER_TIMEOUT"),
		StallTimeout:         dur("STALL_TIMEOUT"),
		HealthGrace:          durOr("HEALTH_GRACE", time.Minute),
		RetryAttempts:        num("RETRY_ATTEMPTS", 0),
		LogMaxSizeMB:         num("LOG_MAX_SIZE_MB", 0),
		MinFreeDisk:          size("MIN_FREE_DISK", "100m"),
		UVCacheMaxSize:       size("UV_CACHE_MAX_SIZE", "0"),
		LogRetentionRuns:     num("LOG_RETENTION_RUNS", 0),
		LogRetentionDays:     num("LOG_RETENTION_DAYS", 0),
		RunHistoryDays:       num("RUN_HISTORY_DAYS", 0),
		RetentionInterval:    dur("RETENTION_INTERVAL"),
		JanitorInterval:      durOr("JANITOR_INTERVAL", 168*time.Hour),
		JanitorDryRun:        boolean("JANITOR_DRY_RUN", false),
		JanitorPruneImages:   boolean("JANITOR_PRUNE_IMAGES", false),
		ShutdownPolicy:       str("SHUTDOWN_POLICY", "detach"),
		Runtime:              str("RUNTIME", "docker"),
		Kubeconfig:           str("KUBECONFIG", ""),
		K8sNamespace:         str("K8S_NAMESPACE", "default"),
		K8sScheduleTimeout:   durOr("K8S_SCHEDULE_TIMEOUT", 5*time.Minute),
		UVCachePVC:           str("UV_CACHE_PVC", ""),
		ReplicaID:            str("REPLICA_ID", ""),
		LeaderLease:          durOr("LEADER_LEASE", 15*time.Second),
		ReplicaGrace:         durOr("REPLICA_GRACE", 2*time.Minute),
		PreHeat:              boolean("UV_PRE_HEAT", true),
		EncryptionKey:        str("ENCRYPTION_KEY", ""),
		AdminUsername:        str("ADMIN_USERNAME", "admin"),
		AdminPassword:        str("ADMIN_PASSWORD", ""),
		LogStreamRateLimit:   num("LOG_STREAM_RATE_LIMIT", 100),
	}
	proxies, err := webui.ParseTrustedProxies(str("TRUSTED_PROXIES", ""))
	if err != nil {
		errs = append(errs, fmt.Errorf("TRUSTED_PROXIES: %w", err))
	}
	c.TrustedProxies = proxies
	c.UVCacheDir = str("UV_CACHE_DIR", filepath.Join(c.DataDir, "uv_cache"))
	if c.MaxConcurrentRuns == 0 {
		errs = append(errs, errors.New("MAX_CONCURRENT_RUNS must be at least 1"))
	}
	if c.ShutdownPolicy != "detach" && c.ShutdownPolicy != "stop" {
		errs = append(errs, fmt.Errorf("SHUTDOWN_POLICY=%q: want detach or stop", c.ShutdownPolicy))
	}
	c.PipelinesDir = str("PIPELINES_DIR", filepath.Join(c.DataDir, "pipelines"))
	if err := c.LogLevel.UnmarshalText([]byte(str("LOG_LEVEL", "info"))); err != nil {
		errs = append(errs, fmt.Errorf("LOG_LEVEL: %w", err))
	}
	if c.AutoSyncInterval < 0 {
		errs = append(errs, errors.New("AUTO_SYNC_INTERVAL must not be negative"))
	}
	if c.HealthGrace < 0 {
		errs = append(errs, errors.New("HEALTH_GRACE must not be negative (0 turns the stop off)"))
	}
	if c.JanitorInterval < 0 {
		errs = append(errs, errors.New("JANITOR_INTERVAL must not be negative (0 turns the janitor off)"))
	}
	switch c.Runtime {
	case "docker":
	case "kubernetes":
		if c.UVFindLinks != "" {
			errs = append(errs, errors.New("UV_FIND_LINKS names a host folder, which pods on other nodes cannot see; with RUNTIME=kubernetes bake the wheelhouse into the worker image instead"))
		}
	default:
		errs = append(errs, fmt.Errorf("RUNTIME=%q: want docker or kubernetes", c.Runtime))
	}
	if c.LeaderLease < time.Second {
		errs = append(errs, fmt.Errorf("LEADER_LEASE=%s: want at least 1s", c.LeaderLease))
	}
	if c.GitHubAppID != 0 && (c.GitHubInstallationID == 0 || c.GitHubPrivateKeyPath == "") {
		errs = append(errs, errors.New("GITHUB_APP_ID needs GITHUB_INSTALLATION_ID and GITHUB_PRIVATE_KEY_PATH"))
	}
	if c.DatabaseURL != "" && !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") {
		errs = append(errs, errors.New("DATABASE_URL must be a postgres:// or postgresql:// URL (leave it unset for SQLite)"))
	}
	return c, errors.Join(errs...)
}

// parseDuration takes Go syntax ("90s", "5m") or plain seconds ("300"),
// the form the original plan used.
func parseDuration(s string) (time.Duration, error) {
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		if n < 0 {
			return 0, errors.New("must not be negative")
		}
		return time.Duration(n * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, errors.New(`want a duration such as "90s", "5m" or plain seconds`)
	}
	return d, nil
}
