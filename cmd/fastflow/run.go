package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
)

// exitError ends the process with code without printing anything more: the
// command already said what went wrong (validate's problem list, say).
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// errUsage marks a command line we could not understand; run prints usage.
var errUsage = errors.New("usage")

const usage = `Fast-Flow: run a team's Python pipelines from a Git repository.

Usage:
  fastflow serve              run the operator, web UI, API and webhook receiver
  fastflow validate [DIR]     check a pipelines repository offline (default: .)
                              --json prints the machine-readable result
  fastflow try NAME [--param K=V]... [--env K=V]...
                              run one pipeline of GIT_REPO_URL once in the worker
                              image, as the operator would; print its log, exit
                              with its exit code (state in a temporary directory)
  fastflow run NAME [--param K=V]... [--follow]
                              start a run through the API; --follow prints its log
                              and exits with its exit code
  fastflow runs [PIPELINE]    list recent runs
  fastflow cancel ID          cancel a run
  fastflow logs ID [-f]       print a run's log; -f follows it live
                              (these four talk to FASTFLOW_URL with FASTFLOW_TOKEN)
  fastflow keygen             print a new ENCRYPTION_KEY (Fernet)
  fastflow secret set NAME    store a secret; the value is read from stdin
  fastflow secret list|rm NAME
  fastflow user add|passwd NAME   the password is read from stdin
  fastflow user list
  fastflow token create NAME [--user USER]   prints an API token once
  fastflow token list|revoke NAME|ID
  fastflow migrate            apply database migrations and exit
  fastflow version            print the version

Configuration comes from the environment and an optional .env file in the
working directory; see README.md for every variable.
`

// run is the whole program minus process exit, so tests can drive it.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, environ []string) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitError{2}
	}
	cmd, rest := args[0], args[1:]
	var err error
	switch cmd {
	case "serve":
		err = serve(ctx, rest, stderr, environ)
	case "validate":
		err = validate(rest, stdout, stderr)
	case "try":
		err = try(ctx, rest, stdout, stderr, environ)
	case "run":
		err = runCmd(ctx, rest, stdout, stderr, environ)
	case "runs":
		err = runsCmd(ctx, rest, stdout, environ)
	case "cancel":
		err = cancelCmd(ctx, rest, stdout, environ)
	case "logs":
		err = logsCmd(ctx, rest, stdout, environ)
	case "keygen":
		if len(rest) > 0 {
			return fmt.Errorf("%w: keygen takes no arguments", errUsage)
		}
		err = keygenCmd(stdout)
	case "secret":
		err = secretCmd(ctx, rest, stdin, stdout, stderr, environ)
	case "user":
		err = userCmd(ctx, rest, stdin, stdout, stderr, environ)
	case "token":
		err = tokenCmd(ctx, rest, stdin, stdout, stderr, environ)
	case "migrate":
		err = migrate(ctx, rest, stderr, environ)
	case "version", "--version":
		fmt.Fprintln(stdout, "fastflow", version())
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "fastflow: unknown command %q\n\n%s", cmd, usage)
		return exitError{2}
	}
	if errors.Is(err, errUsage) {
		fmt.Fprintf(stderr, "fastflow %s: %s\n\n%s", cmd, strings.TrimPrefix(err.Error(), "usage: "), usage)
		return exitError{2}
	}
	return err
}
