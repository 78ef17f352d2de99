package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fastflow-dev/fastflow/operator"
	"github.com/fastflow-dev/fastflow/repo"
	"github.com/fastflow-dev/fastflow/status"
)

// try runs one pipeline of GIT_REPO_URL's branch tip once, exactly as the
// operator would (same image, limits, wrapper, classification), prints its
// log as it comes and exits with its exit code. It keeps its state in a
// temporary directory with its own instance label, so it never touches a
// server's database or containers: it is for trying a pipeline before
// pushing it, and for the demo.
func try(ctx context.Context, args []string, stdout, stderr io.Writer, environ []string) error {
	name, params, runEnv, err := parseTryArgs(args)
	if err != nil {
		return err
	}
	cfg, log, err := loadConfig(environ, stderr)
	if err != nil {
		return err
	}
	if cfg.GitRepoURL == "" {
		return errors.New("configuration: GIT_REPO_URL is required (a local path to a Git repository works)")
	}
	tmp, err := os.MkdirTemp("", "fastflow-try-")
	if err != nil {
		return fmt.Errorf("create scratch directory: %w", err)
	}
	defer os.RemoveAll(tmp)
	// Its own database, revisions and instance label: nothing of a server.
	cfg.DatabaseURL = ""
	cfg.DataDir, cfg.LogsDir, cfg.PipelinesDir = tmp, filepath.Join(tmp, "logs"), filepath.Join(tmp, "pipelines")
	cfg.ShutdownPolicy = operator.ShutdownStop // Ctrl-C must not leave a container behind
	// One run that installs its own requirements: a warm-up beside it
	// would only race it and be cut off when try exits.
	cfg.PreHeat = false
	cfg.MaxConcurrentRuns = 1

	parts, err := assemble(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer parts.Close()
	store, op := parts.store, parts.op

	opCtx, stopOp := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- op.Run(opCtx) }()
	defer func() {
		stopOp()
		<-done
	}()
	select {
	case <-op.Ready():
	case err := <-done:
		return fmt.Errorf("operator stopped: %w", err)
	}
	if st := op.SyncState(); st.Last.Error != "" {
		return fmt.Errorf("sync %s: %s", cfg.GitRepoURL, st.Last.Error)
	}

	run, err := op.RunPipeline(ctx, operator.RunRequest{Pipeline: name, Parameters: params, Env: runEnv, TriggeredBy: "fastflow try"})
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "%s: run %s at %s\n", name, run.ID, repo.ShortSHA(run.Revision))
	if hub, ok := op.LogHubs().Get(run.ID); ok {
		sub := hub.Subscribe(0)
		for line := range sub.C() {
			prefix := ""
			if line.Stream != "stdout" {
				prefix = "[" + line.Stream + "] "
			}
			fmt.Fprintf(stdout, "%s%s\n", prefix, line.Text)
		}
		sub.Close()
	}
	final, err := waitFinal(ctx, store, run.ID)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "%s: %s", name, final.Status)
	if final.ErrorType != "" {
		fmt.Fprintf(stderr, " (%s)", final.ErrorType)
	}
	if final.Message != "" {
		fmt.Fprintf(stderr, ": %s", final.Message)
	}
	fmt.Fprintf(stderr, " in %s\n", final.Duration().Round(10*time.Millisecond))
	switch {
	case final.Status == status.RunSuccess:
		return nil
	case final.ExitCode != nil && *final.ExitCode != 0:
		return exitError{*final.ExitCode}
	default:
		return exitError{1}
	}
}

func waitFinal(ctx context.Context, store status.Store, id string) (status.Run, error) {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		r, err := store.GetRun(ctx, id)
		if err != nil {
			return r, err
		}
		if r.Status.Final() {
			return r, nil
		}
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case <-t.C:
		}
	}
}

func parseTryArgs(args []string) (string, map[string]any, map[string]string, error) {
	var name string
	params := map[string]any{}
	env := map[string]string{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--param" || a == "--env":
			if i+1 >= len(args) {
				return "", nil, nil, fmt.Errorf("%w: %s needs KEY=VALUE", errUsage, a)
			}
			k, v, ok := strings.Cut(args[i+1], "=")
			if !ok || k == "" {
				return "", nil, nil, fmt.Errorf("%w: %s needs KEY=VALUE, got %q", errUsage, a, args[i+1])
			}
			if a == "--param" {
				params[k] = v
			} else {
				env[k] = v
			}
			i++
		case strings.HasPrefix(a, "-"):
			return "", nil, nil, fmt.Errorf("%w: unknown flag %s", errUsage, a)
		case name == "":
			name = a
		default:
			return "", nil, nil, fmt.Errorf("%w: try takes one pipeline name", errUsage)
		}
	}
	if name == "" {
		return "", nil, nil, fmt.Errorf("%w: try needs a pipeline name", errUsage)
	}
	return name, params, env, nil
}
