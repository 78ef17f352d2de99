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

// errUsage marks a command line we could not understand; run prints the
// command's usage and exits 2.
var errUsage = errors.New("usage")

// cmdIO bundles what a command may read and write, so the table below has one
// signature for every command.
type cmdIO struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	environ        []string
}

// command is one subcommand: its synopsis for the overview, its own help
// for `fastflow NAME --help`, and what it does.
type command struct {
	name string
	// synopsis is the overview's lines for this command, without the
	// leading "fastflow ".
	synopsis string
	// help is the rest of `fastflow NAME --help`: what it does, its flags
	// and what it reads from the environment.
	help string
	run  func(ctx context.Context, args []string, c cmdIO) error
}

// commands is every subcommand in the order the overview lists them. It is
// a function rather than a package variable so nothing global can change it.
func commands() []command {
	return []command{
		{name: "serve", synopsis: "serve",
			help: `Run the operator, web UI, API and webhook receiver until SIGTERM.
Takes no arguments: configuration comes from the environment and ./.env.`,
			run: func(ctx context.Context, args []string, c cmdIO) error { return serve(ctx, args, c.stderr, c.environ) }},
		{name: "validate", synopsis: "validate [--json] [DIR]",
			help: `Check a pipelines repository offline (default: .), as a sync would: no
database, Docker or network. Exit status 1 means at least one problem.

  --json   print the machine-readable result`,
			run: func(_ context.Context, args []string, c cmdIO) error { return validate(args, c.stdout, c.stderr) }},
		{name: "try", synopsis: "try NAME [--param K=V]... [--env K=V]...",
			help: `Run one pipeline of GIT_REPO_URL once in the worker image, as the operator
would, with its state in a temporary directory; print its log and exit with
its exit code.`,
			run: func(ctx context.Context, args []string, c cmdIO) error {
				return try(ctx, args, c.stdout, c.stderr, c.environ)
			}},
		{name: "run", synopsis: "run NAME [--param K=V]... [--follow]",
			help: `Start a run through the API of FASTFLOW_URL with FASTFLOW_TOKEN.

  --param K=V   a parameter for the run (repeatable)
  --follow, -f  print its log live and exit with its exit code`,
			run: func(ctx context.Context, args []string, c cmdIO) error {
				return runCmd(ctx, args, c.stdout, c.stderr, c.environ)
			}},
		{name: "runs", synopsis: "runs [PIPELINE]",
			help: `List recent runs (of one pipeline) from FASTFLOW_URL with FASTFLOW_TOKEN.`,
			run: func(ctx context.Context, args []string, c cmdIO) error {
				return runsCmd(ctx, args, c.stdout, c.environ)
			}},
		{name: "cancel", synopsis: "cancel ID",
			help: `Cancel a run through FASTFLOW_URL with FASTFLOW_TOKEN.`,
			run: func(ctx context.Context, args []string, c cmdIO) error {
				return cancelCmd(ctx, args, c.stdout, c.environ)
			}},
		{name: "logs", synopsis: "logs ID [-f]",
			help: `Print a run's log from FASTFLOW_URL with FASTFLOW_TOKEN.

  -f, --follow   follow it live until the run ends`,
			run: func(ctx context.Context, args []string, c cmdIO) error {
				return logsCmd(ctx, args, c.stdout, c.environ)
			}},
		{name: "keygen", synopsis: "keygen",
			help: `Print a new ENCRYPTION_KEY (Fernet) for secrets.`,
			run: func(_ context.Context, args []string, c cmdIO) error {
				if len(args) > 0 {
					return fmt.Errorf("%w: keygen takes no arguments", errUsage)
				}
				return keygenCmd(c.stdout)
			}},
		{name: "secret", synopsis: "secret set NAME | secret list | secret rm NAME",
			help: `Manage encrypted secrets in the database (needs ENCRYPTION_KEY). The value
of "set" is read from stdin, never from the command line.`,
			run: func(ctx context.Context, args []string, c cmdIO) error {
				return secretCmd(ctx, args, c.stdin, c.stdout, c.stderr, c.environ)
			}},
		{name: "user", synopsis: "user add NAME | user passwd NAME | user list",
			help: `Manage web UI users. The password is read from stdin (or asked for on a
terminal), never from the command line.`,
			run: func(ctx context.Context, args []string, c cmdIO) error {
				return userCmd(ctx, args, c.stdin, c.stdout, c.stderr, c.environ)
			}},
		{name: "token", synopsis: "token create NAME [--user USER] | token list | token revoke NAME|ID",
			help: `Manage API tokens. "create" prints the token once; only its hash is stored.`,
			run: func(ctx context.Context, args []string, c cmdIO) error {
				return tokenCmd(ctx, args, c.stdin, c.stdout, c.stderr, c.environ)
			}},
		{name: "migrate", synopsis: "migrate",
			help: `Apply the database migrations and exit. "serve" does the same at start;
run this first to upgrade outside the server's start.`,
			run: func(ctx context.Context, args []string, c cmdIO) error {
				return migrate(ctx, args, c.stderr, c.environ)
			}},
		{name: "backup", synopsis: "backup FILE",
			help: `Write a consistent copy of the SQLite database to FILE while the server
runs (SQLite's VACUUM INTO, never a file copy of a live database). FILE must
not exist. With DATABASE_URL (PostgreSQL) use pg_dump instead; see
docs/deploy.md.`,
			run: func(ctx context.Context, args []string, c cmdIO) error {
				return backupCmd(ctx, args, c.stderr, c.environ)
			}},
		{name: "restore", synopsis: "restore FILE",
			help: `Restore a backup made by "fastflow backup" into DATA_DIR, which must hold
no database yet; the restored database is checked and migrated. Keep the
ENCRYPTION_KEY of the backed-up installation: its secrets need it.`,
			run: func(ctx context.Context, args []string, c cmdIO) error {
				return restoreCmd(ctx, args, c.stderr, c.environ)
			}},
		{name: "health", synopsis: "health [--url URL] [--timeout D]",
			help: `Ask a running server's /healthz and exit 0 when it answers ok, 1 otherwise:
the image's HEALTHCHECK, so no curl is needed in it.

  --url URL     the server (default http://127.0.0.1 and LISTEN_ADDR's port)
  --timeout D   give up after D (default 3s)`,
			run: func(ctx context.Context, args []string, c cmdIO) error {
				return healthCmd(ctx, args, c.stdout, c.stderr, c.environ)
			}},
		{name: "version", synopsis: "version",
			help: `Print the version, the commit it was built from and the newest database
schema version this binary knows.`,
			run: func(_ context.Context, args []string, c cmdIO) error { return versionCmd(args, c.stdout) }},
	}
}

// overview is `fastflow help`: every command's synopsis.
func overview() string {
	var b strings.Builder
	b.WriteString("Fast-Flow: run a team's Python pipelines from a Git repository.\n\nUsage:\n")
	for _, c := range commands() {
		fmt.Fprintf(&b, "  fastflow %s\n", c.synopsis)
	}
	b.WriteString(`
"fastflow COMMAND --help" explains one command. Configuration comes from the
environment and an optional .env file in the working directory; see README.md
for every variable.
`)
	return b.String()
}

// commandUsage is `fastflow NAME --help`.
func commandUsage(c command) string {
	return fmt.Sprintf("Usage: fastflow %s\n\n%s\n", c.synopsis, c.help)
}

// wantsHelp reports whether args ask for help: -h or --help anywhere before
// a "--", so `fastflow token create x --help` explains token rather than
// creating a token named x.
func wantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "-help", "--help":
			return true
		}
	}
	return false
}

// run is the whole program minus process exit, so tests can drive it.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, environ []string) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, overview())
		return exitError{2}
	}
	name, rest := args[0], args[1:]
	switch name {
	case "help", "-h", "--help":
		if len(rest) == 1 {
			if c, ok := lookup(rest[0]); ok {
				fmt.Fprint(stdout, commandUsage(c))
				return nil
			}
		}
		fmt.Fprint(stdout, overview())
		return nil
	case "--version":
		name = "version"
	}
	c, ok := lookup(name)
	if !ok {
		fmt.Fprintf(stderr, "fastflow: unknown command %q\n\n%s", name, overview())
		return exitError{2}
	}
	if wantsHelp(rest) {
		fmt.Fprint(stdout, commandUsage(c))
		return nil
	}
	err := c.run(ctx, rest, cmdIO{stdin: stdin, stdout: stdout, stderr: stderr, environ: environ})
	if errors.Is(err, errUsage) {
		fmt.Fprintf(stderr, "fastflow %s: %s\n\n%s", name, strings.TrimPrefix(err.Error(), "usage: "), commandUsage(c))
		return exitError{2}
	}
	return err
}

func lookup(name string) (command, bool) {
	for _, c := range commands() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// noFlags refuses any argument that looks like a flag, for commands that
// take only operands: "--force" is a typo or a wish, never a file or run id.
func noFlags(args []string) error {
	for _, a := range args {
		if strings.HasPrefix(a, "-") && a != "-" {
			return fmt.Errorf("%w: unknown flag %s", errUsage, a)
		}
	}
	return nil
}
