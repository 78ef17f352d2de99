package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/fastflow-dev/fastflow/operator"
	"github.com/fastflow-dev/fastflow/operator/telemetry"
	"github.com/fastflow-dev/fastflow/repo"
	"github.com/fastflow-dev/fastflow/runtime"
	"github.com/fastflow-dev/fastflow/runtime/docker"
	"github.com/fastflow-dev/fastflow/runtime/kubernetes"
	"github.com/fastflow-dev/fastflow/status/checks"
	"github.com/fastflow-dev/fastflow/status/credentials"
	"github.com/fastflow-dev/fastflow/status/secrets"
	"github.com/fastflow-dev/fastflow/status/sqlstore"
	"github.com/fastflow-dev/fastflow/webui"
)

// shutdownGrace bounds how long in-flight HTTP requests may finish after
// SIGTERM; container orchestrators usually kill after 10 s.
const shutdownGrace = 8 * time.Second

func serve(ctx context.Context, args []string, stderr io.Writer, environ []string) error {
	if len(args) > 0 {
		return fmt.Errorf("%w: serve takes no arguments, configuration comes from the environment", errUsage)
	}
	cfg, log, err := loadConfig(environ, stderr)
	if err != nil {
		return err
	}
	if cfg.GitRepoURL == "" {
		return errors.New("configuration: GIT_REPO_URL is required (a GitHub URL, an SSH URL, or a local path)")
	}
	return serveWith(ctx, cfg, log, nil)
}

// serveWith runs the server until ctx ends. ready, when not nil, receives the
// bound address once the listener is up (tests listen on port 0).
func serveWith(ctx context.Context, cfg config, log *slog.Logger, ready chan<- string) error {
	parts, err := assemble(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer parts.Close()
	store, op := parts.store, parts.op
	generated, err := credentials.EnsureAdmin(ctx, store, cfg.AdminUsername, cfg.AdminPassword)
	if err != nil {
		return fmt.Errorf("create the first user: %w", err)
	}
	if generated != "" {
		// Printed once, to the operator's terminal or log, never stored.
		log.Warn("created the first user with a generated password; change it with `fastflow user passwd`",
			"username", cfg.AdminUsername, "password", generated)
	}

	handler, err := webui.New(webui.Config{
		Operator:           op,
		Store:              store,
		SecureCookies:      strings.HasPrefix(cfg.BaseURL, "https://"),
		TrustedProxies:     cfg.TrustedProxies,
		Secrets:            parts.vault,
		WebhookSecret:      cfg.GitHubWebhookSecret,
		RepoFullName:       repoFullName(cfg.GitRepoURL),
		Branch:             cfg.GitBranch,
		LogStreamRateLimit: cfg.LogStreamRateLimit,
		Metrics:            parts.tel.Handler(),
		OnWebhook:          func(code int) { parts.tel.WebhookDelivered(telemetry.WebhookOutcome(code)) },
		Checks: []webui.Check{
			{Name: "database", Critical: true, Probe: store.Ping},
			// Not critical: with Docker (or the API server) down the UI,
			// API and history still serve; new runs are refused with 503
			// until it is back.
			{Name: parts.rtName, Probe: parts.rt.Ping},
		},
		Logger: log,
	})
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.ListenAddr, err)
	}
	var metricsLn net.Listener
	if cfg.MetricsListenAddr != "" {
		if metricsLn, err = net.Listen("tcp", cfg.MetricsListenAddr); err != nil {
			_ = ln.Close()
			return fmt.Errorf("listen on METRICS_LISTEN_ADDR %s: %w", cfg.MetricsListenAddr, err)
		}
		log.Info("serving metrics without authentication", "addr", metricsLn.Addr().String())
	}

	// The web UI's limits: header, body, write-progress and idle timeouts
	// per route, and a bound on header size (webui.Timeouts).
	srv := handler.HTTPServer()
	log.Info("serving", "addr", ln.Addr().String(), "repo", cfg.GitRepoURL, "branch", cfg.GitBranch, "sync_interval", cfg.AutoSyncInterval)
	if ready != nil {
		ready <- ln.Addr().String()
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return op.Run(gctx) })
	if metricsLn != nil {
		msrv := metricsServer(parts.tel.Handler())
		g.Go(func() error {
			if err := msrv.Serve(metricsLn); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("serve metrics: %w", err)
			}
			return nil
		})
		g.Go(func() error {
			<-gctx.Done()
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
			defer cancel()
			return msrv.Shutdown(sctx)
		})
	}
	if parts.checks != nil {
		g.Go(func() error { return parts.checks.Run(gctx) })
	}
	g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve http: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		log.Info("shutting down")
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
		defer cancel()
		return srv.Shutdown(sctx)
	})
	return g.Wait()
}

// parts is the operator with what it stands on, as serve and try build it.
type parts struct {
	store *sqlstore.Store
	// rt runs the pipelines (RUNTIME): the Docker client, also kept as
	// docker for what only Docker has, or the Kubernetes client; rtName
	// names its health check.
	rt     runtime.Runtime
	rtName string
	docker *docker.Client
	vault  *secrets.Vault
	checks *checks.Reporter // nil without a GitHub App
	tel    *telemetry.Telemetry
	op     *operator.Operator
}

// assemble opens and migrates the store and builds the syncer, the Docker
// runtime and the operator from cfg. Close releases what it opened.
func assemble(ctx context.Context, cfg config, log *slog.Logger) (*parts, error) {
	store, err := sqlstore.Open(ctx, sqlstore.Config{DatabaseURL: cfg.DatabaseURL, DataDir: cfg.DataDir, Logger: log})
	if err != nil {
		return nil, err
	}
	p := &parts{store: store}
	fail := func(err error) (*parts, error) {
		p.Close()
		return nil, err
	}
	if err := store.Migrate(ctx); err != nil {
		return fail(err)
	}
	auth, err := gitAuth(cfg)
	if err != nil {
		return fail(err)
	}
	if app, ok := auth.(*repo.GitHubApp); ok {
		// The App that reads the repository also reports on it.
		owner, name, ok := repoOwnerName(cfg.GitRepoURL)
		if !ok {
			return fail(fmt.Errorf("GIT_REPO_URL %q: cannot tell owner/name for check runs", cfg.GitRepoURL))
		}
		p.checks, err = checks.New(checks.Config{Owner: owner, Repo: name, APIURL: cfg.GitHubAPIURL, Token: app.Token, BaseURL: cfg.BaseURL, Logger: log})
		if err != nil {
			return fail(err)
		}
	}
	syncer, err := repo.NewSyncer(repo.Config{
		URL:          cfg.GitRepoURL,
		Branch:       cfg.GitBranch,
		DataDir:      cfg.DataDir,
		PipelinesDir: cfg.PipelinesDir,
		Auth:         auth,
		Logger:       log,
	})
	if err != nil {
		return fail(err)
	}
	cacheDir, err := filepath.Abs(cfg.UVCacheDir)
	if err != nil {
		return fail(fmt.Errorf("resolve UV_CACHE_DIR: %w", err))
	}
	switch cfg.Runtime {
	case "kubernetes":
		pvcs := map[string]string{}
		if cfg.UVCachePVC != "" {
			pvcs[runtime.CacheUV] = cfg.UVCachePVC
		}
		kc, err := kubernetes.New(kubernetes.Config{
			Kubeconfig: cfg.Kubeconfig, Namespace: cfg.K8sNamespace, ScheduleTimeout: cfg.K8sScheduleTimeout,
			RevisionsDir: syncer.RevisionsDir(), CachePVCs: pvcs, Logger: log,
		})
		if err != nil {
			return fail(fmt.Errorf("RUNTIME=kubernetes: %w", err))
		}
		p.rt, p.rtName = kc, "kubernetes"
	default:
		p.docker, err = docker.New(docker.Config{
			Host: cfg.DockerHost, Logger: log,
			RevisionsDir: syncer.RevisionsDir(),
			CacheDirs:    map[string]string{runtime.CacheUV: cacheDir},
		})
		if err != nil {
			return fail(err)
		}
		p.rt, p.rtName = p.docker, "docker"
	}
	// A wrong ENCRYPTION_KEY is reported now, not at the first run that
	// needs a secret.
	vault, err := secrets.New(store, cfg.EncryptionKey)
	if err != nil {
		return fail(fmt.Errorf("ENCRYPTION_KEY: %w", err))
	}
	if err := vault.Check(ctx); err != nil {
		return fail(fmt.Errorf("ENCRYPTION_KEY: %w", err))
	}
	p.vault = vault
	opCfg, err := operatorConfig(cfg, log)
	if err != nil {
		return fail(err)
	}
	opCfg.Secrets = vault
	opCfg.Checks = p.checks
	build := readBuildInfo()
	opCfg.Notify = operator.NotifyConfig{BaseURL: cfg.BaseURL, UserAgent: "Fast-Flow/" + build.Version}
	opCfg.Replica = operator.ReplicaConfig{ID: cfg.ReplicaID, Lease: cfg.LeaderLease, Grace: cfg.ReplicaGrace, Version: build.Version}
	var checksPending func() int
	if p.checks != nil {
		checksPending = p.checks.Pending
	}
	p.tel, err = telemetry.New(telemetry.Config{
		Version: build.Version, Commit: build.Commit, Schema: build.Schema,
		// p.op is set below, before anything runs that could ask.
		IsLive: func(name string) bool {
			if p.op == nil {
				return false
			}
			snap := p.op.Snapshot()
			if snap == nil {
				return false
			}
			_, ok := snap.Pipeline(name)
			return ok
		},
		Leader: func() (string, bool) {
			if p.op == nil {
				return opCfg.Replica.ID, false
			}
			l := p.op.Leadership()
			return l.Self, l.Leader
		},
		Queue:         store,
		DockerPing:    dockerPing(p.docker),
		ChecksPending: checksPending,
		Logger:        log,
	})
	if err != nil {
		return fail(err)
	}
	// The operator writes through the telemetry's store, which counts
	// starts, finishes, fires and syncs as they are recorded, and reports
	// its removals to it.
	opCfg.Observer = p.tel
	if p.docker == nil {
		// The uv cache is the cluster's (a PVC or an emptyDir), not a
		// folder of this host to measure and trim.
		opCfg.UVCache = operator.UVCacheConfig{}
	}
	if p.op, err = operator.New(opCfg, syncer, p.tel.WrapStore(store), p.rt); err != nil {
		return fail(err)
	}
	return p, nil
}

// dockerPing is fastflow_docker_up's probe; nil (no gauge) without Docker.
func dockerPing(d *docker.Client) func(context.Context) error {
	if d == nil {
		return nil
	}
	return d.Ping
}

// Close releases the runtime's client and the store.
func (p *parts) Close() {
	if p.rt != nil {
		_ = p.rt.Close()
	}
	_ = p.store.Close()
}

// gitAuth picks the credentials: a GitHub App wins over a token, a token over
// an SSH key; none is right for local paths and public repositories.
func gitAuth(cfg config) (repo.AuthProvider, error) {
	switch {
	case cfg.GitHubAppID != 0:
		app, err := repo.NewGitHubApp(repo.GitHubAppConfig{
			AppID:          cfg.GitHubAppID,
			InstallationID: cfg.GitHubInstallationID,
			PrivateKeyPath: cfg.GitHubPrivateKeyPath,
			APIURL:         cfg.GitHubAPIURL,
		})
		if err != nil {
			return nil, err
		}
		return app, nil
	case cfg.GitToken != "":
		return repo.TokenAuth{Token: cfg.GitToken}, nil
	case cfg.GitSSHKeyPath != "":
		key, err := repo.NewSSHKeyAuth(cfg.GitSSHKeyPath, "", cfg.GitSSHKnownHosts)
		if err != nil {
			return nil, err
		}
		return key, nil
	}
	return nil, nil
}

func migrate(ctx context.Context, args []string, stderr io.Writer, environ []string) error {
	if len(args) > 0 {
		return fmt.Errorf("%w: migrate takes no arguments", errUsage)
	}
	cfg, log, err := loadConfig(environ, stderr)
	if err != nil {
		return err
	}
	store, err := sqlstore.Open(ctx, sqlstore.Config{DatabaseURL: cfg.DatabaseURL, DataDir: cfg.DataDir, Logger: log})
	if err != nil {
		return err
	}
	defer store.Close()
	if err := store.Migrate(ctx); err != nil {
		return err
	}
	log.Info("database schema is up to date")
	return nil
}

// loadConfig reads the environment and ./.env and builds the logger every
// long-running command uses.
func loadConfig(environ []string, stderr io.Writer) (config, *slog.Logger, error) {
	e, err := loadEnv(environ, ".env")
	if err != nil {
		return config{}, nil, err
	}
	cfg, err := configFrom(e)
	if err != nil {
		return config{}, nil, fmt.Errorf("configuration:\n%w", err)
	}
	return cfg, slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel})), nil
}

// operatorConfig maps the settings the operator needs. Host paths become
// absolute: they are handed to the Docker daemon as bind mounts.
func operatorConfig(cfg config, log *slog.Logger) (operator.Config, error) {
	abs := func(p string) (string, error) {
		a, err := filepath.Abs(p)
		if err != nil {
			return "", fmt.Errorf("resolve %s: %w", p, err)
		}
		return a, nil
	}
	logsDir, err := abs(cfg.LogsDir)
	if err != nil {
		return operator.Config{}, err
	}
	dataDir, err := abs(cfg.DataDir)
	if err != nil {
		return operator.Config{}, err
	}
	// One installation is one DATA_DIR: its database and revisions.
	sum := sha256.Sum256([]byte(dataDir))
	oc := operator.Config{
		Instance:          hex.EncodeToString(sum[:6]),
		SyncInterval:      cfg.AutoSyncInterval,
		WorkerImage:       cfg.WorkerImage,
		LogsDir:           logsDir,
		MaxConcurrentRuns: cfg.MaxConcurrentRuns,
		ContainerTimeout:  cfg.ContainerTimeout,
		StallTimeout:      cfg.StallTimeout,
		HealthGrace:       cfg.HealthGrace,
		RetryAttempts:     cfg.RetryAttempts,
		LogMaxBytes:       int64(cfg.LogMaxSizeMB) << 20,
		MinFreeDisk:       cfg.MinFreeDisk,
		DiskDirs:          [][2]string{{"DATA_DIR", dataDir}},
		WorkerNetwork:     cfg.WorkerNetwork,
		ShutdownPolicy:    cfg.ShutdownPolicy,
		PreHeat:           cfg.PreHeat,
		Logger:            log,
		Retention: operator.RetentionConfig{Runs: cfg.LogRetentionRuns, Days: cfg.LogRetentionDays,
			HistoryDays: cfg.RunHistoryDays, Interval: cfg.RetentionInterval},
		Janitor: operator.JanitorConfig{Interval: cfg.JanitorInterval, DryRun: cfg.JanitorDryRun, PruneImages: cfg.JanitorPruneImages},
	}
	// The Docker runtime keeps the uv cache in this host folder, so the
	// operator can measure and trim it.
	if oc.UVCache.Dir, err = abs(cfg.UVCacheDir); err != nil {
		return operator.Config{}, err
	}
	oc.UVCache.MaxBytes = cfg.UVCacheMaxSize
	if cfg.UVFindLinks != "" {
		// A wheelhouse on the host: mounted read-only where uv looks.
		dir, err := abs(cfg.UVFindLinks)
		if err != nil {
			return operator.Config{}, err
		}
		oc.WorkerMounts = []runtime.Mount{{Source: dir, Target: "/wheels", ReadOnly: true}}
		oc.WorkerEnv = map[string]string{"UV_FIND_LINKS": "/wheels"}
	}
	return oc, nil
}

// repoOwnerName reads "owner" and "name" from a GitHub remote URL:
// https://github.com/owner/name(.git), git@github.com:owner/name.git or
// ssh://git@github.com/owner/name.
func repoOwnerName(raw string) (owner, name string, ok bool) {
	rest := raw
	if _, after, found := strings.Cut(raw, "://"); found {
		rest = after
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			rest = rest[i+1:]
		} else {
			return "", "", false
		}
	} else if _, after, found := strings.Cut(raw, ":"); found && strings.Contains(raw, "@") {
		rest = after
	} else {
		return "", "", false
	}
	rest = strings.TrimSuffix(strings.Trim(rest, "/"), ".git")
	parts := strings.Split(rest, "/")
	if len(parts) != 2 || parts[0] == "" || parts[1] == "" {
		return "", "", false
	}
	return parts[0], parts[1], true
}

// repoFullName is "owner/name" of a GitHub remote, or "" for a local path,
// which then accepts pushes for any repository.
func repoFullName(url string) string {
	owner, name, ok := repoOwnerName(url)
	if !ok {
		return ""
	}
	return owner + "/" + name
}
