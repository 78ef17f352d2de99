package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"github.com/fastflow-dev/fastflow/status"
	"github.com/fastflow-dev/fastflow/status/credentials"
	"github.com/fastflow-dev/fastflow/status/sqlstore"
)

// adminStore is the store an admin command works on, opened and migrated
// from the same environment `serve` reads, plus that environment (for the
// settings config does not carry yet, such as ENCRYPTION_KEY).
type adminStore struct {
	*sqlstore.Store
	env env
}

// openAdminStore opens the database as `migrate` does. Migrating first lets
// `fastflow user add` run before the first `serve` on a fresh install.
func openAdminStore(ctx context.Context, stderr io.Writer, environ []string) (*adminStore, error) {
	cfg, log, err := loadConfig(environ, stderr)
	if err != nil {
		return nil, err
	}
	e, err := loadEnv(environ, ".env")
	if err != nil {
		return nil, err
	}
	store, err := sqlstore.Open(ctx, sqlstore.Config{DatabaseURL: cfg.DatabaseURL, DataDir: cfg.DataDir, Logger: log})
	if err != nil {
		return nil, err
	}
	if err := store.Migrate(ctx); err != nil {
		_ = store.Close()
		return nil, err
	}
	return &adminStore{Store: store, env: e}, nil
}

// userCmd is `fastflow user add NAME`, `user passwd NAME` and `user list`.
// The password comes from the first line of stdin, never from argv, where
// every user of the machine could read it in the process list.
func userCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, environ []string) error {
	return userCmdWith(ctx, credentials.Hasher{}, args, stdin, stdout, stderr, environ)
}

// userCmdWith is userCmd hashing with h; tests pass a low bcrypt cost.
func userCmdWith(ctx context.Context, h credentials.Hasher, args []string, stdin io.Reader, stdout, stderr io.Writer, environ []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: user add NAME | user passwd NAME | user list", errUsage)
	}
	sub, rest := args[0], args[1:]
	switch sub {
	case "add", "passwd":
		if len(rest) != 1 {
			return fmt.Errorf("%w: user %s NAME (the password is read from stdin)", errUsage, sub)
		}
	case "list":
		if len(rest) != 0 {
			return fmt.Errorf("%w: user list takes no arguments", errUsage)
		}
	default:
		return fmt.Errorf("%w: unknown user command %q (want add, passwd or list)", errUsage, sub)
	}
	var name, hash string
	if sub != "list" {
		name = rest[0]
		if err := credentials.ValidateUsername(name); err != nil {
			return err
		}
		pw, err := readPassword(stdin, stderr, name)
		if err != nil {
			return err
		}
		// Hash before opening the store: a refused password costs nothing.
		if hash, err = h.HashPassword(pw); err != nil {
			return err
		}
	}

	store, err := openAdminStore(ctx, stderr, environ)
	if err != nil {
		return err
	}
	defer store.Close()
	switch sub {
	case "add":
		if _, err := store.CreateUser(ctx, name, hash); err != nil {
			if errors.Is(err, status.ErrConflict) {
				return fmt.Errorf("user %s already exists; change the password with `fastflow user passwd %s`", name, name)
			}
			return fmt.Errorf("add user %s: %w", name, err)
		}
		fmt.Fprintf(stderr, "user %s added\n", name)
	case "passwd":
		if err := store.SetPassword(ctx, name, hash); err != nil {
			if errors.Is(err, status.ErrNotFound) {
				return fmt.Errorf("no user %s; add it with `fastflow user add %s`", name, name)
			}
			return fmt.Errorf("set password of %s: %w", name, err)
		}
		fmt.Fprintf(stderr, "password of %s changed\n", name)
	case "list":
		users, err := store.ListUsers(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "USERNAME\tCREATED")
		for _, u := range users {
			fmt.Fprintf(tw, "%s\t%s\n", u.Username, adminTime(u.CreatedAt))
		}
		return tw.Flush()
	}
	return nil
}

// tokenCmd is `fastflow token create NAME [--user USER]`, `token revoke
// NAME|ID` and `token list`. A token is printed once, on create; the
// database keeps only its hash, so a lost token is revoked and replaced.
func tokenCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, environ []string) error {
	const use = "token create NAME [--user USER] | token revoke NAME|ID | token list"
	if len(args) == 0 {
		return fmt.Errorf("%w: %s", errUsage, use)
	}
	sub, rest := args[0], args[1:]
	var name, user string
	switch sub {
	case "create":
		var err error
		if name, user, err = parseTokenCreate(rest); err != nil {
			return err
		}
	case "revoke":
		if len(rest) != 1 {
			return fmt.Errorf("%w: token revoke NAME|ID", errUsage)
		}
	case "list":
		if len(rest) != 0 {
			return fmt.Errorf("%w: token list takes no arguments", errUsage)
		}
	default:
		return fmt.Errorf("%w: unknown token command %q (want create, revoke or list)", errUsage, sub)
	}

	store, err := openAdminStore(ctx, stderr, environ)
	if err != nil {
		return err
	}
	defer store.Close()
	switch sub {
	case "create":
		return createToken(ctx, store, name, user, stdout, stderr)
	case "revoke":
		return revokeToken(ctx, store, rest[0], stderr)
	default:
		tokens, err := store.ListAPITokens(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tUSER\tCREATED\tREVOKED")
		for _, t := range tokens {
			revoked := "-"
			if !t.RevokedAt.IsZero() {
				revoked = adminTime(t.RevokedAt)
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", t.ID, t.Name, t.Username, adminTime(t.CreatedAt), revoked)
		}
		return tw.Flush()
	}
}

// parseTokenCreate reads `NAME [--user USER]`, the flag before or after
// the name.
func parseTokenCreate(args []string) (name, user string, err error) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--user" || a == "-user":
			if i+1 >= len(args) {
				return "", "", fmt.Errorf("%w: --user needs a username", errUsage)
			}
			i++
			user = args[i]
		case strings.HasPrefix(a, "--user="):
			user = strings.TrimPrefix(a, "--user=")
		case strings.HasPrefix(a, "-"):
			return "", "", fmt.Errorf("%w: unknown flag %s for token create", errUsage, a)
		case name == "":
			name = a
		default:
			return "", "", fmt.Errorf("%w: token create takes one NAME, got %q too", errUsage, a)
		}
	}
	if name == "" {
		return "", "", fmt.Errorf("%w: token create NAME [--user USER]", errUsage)
	}
	if err := validateTokenName(name); err != nil {
		return "", "", err
	}
	return name, user, nil
}

// validateTokenName wants names that start with a letter, so that `token
// revoke 12` can only mean the token with ID 12.
func validateTokenName(name string) error {
	ok := len(name) <= 64
	for i, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case i > 0 && (r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-'):
		default:
			ok = false
		}
	}
	if !ok {
		return fmt.Errorf("token name %q: use up to 64 letters, digits and . _ -, starting with a letter", name)
	}
	return nil
}

func createToken(ctx context.Context, store *adminStore, name, user string, stdout, stderr io.Writer) error {
	if user == "" {
		users, err := store.ListUsers(ctx)
		if err != nil {
			return err
		}
		switch len(users) {
		case 0:
			return errors.New("no users yet: add one with `fastflow user add NAME` (or start `fastflow serve` once)")
		case 1:
			user = users[0].Username
		default:
			return fmt.Errorf("%w: there are %d users; say whose token this is with --user USER", errUsage, len(users))
		}
	}
	u, err := store.GetUser(ctx, user)
	if err != nil {
		if errors.Is(err, status.ErrNotFound) {
			return fmt.Errorf("no user %s", user)
		}
		return err
	}
	// Names identify tokens for revoke, so two live tokens may not share one.
	tokens, err := store.ListAPITokens(ctx)
	if err != nil {
		return err
	}
	for _, t := range tokens {
		if t.Name == name && t.RevokedAt.IsZero() {
			return fmt.Errorf("a token named %s exists (ID %d); revoke it first or pick another name", name, t.ID)
		}
	}
	token, hash, err := credentials.NewToken(credentials.APITokenPrefix)
	if err != nil {
		return err
	}
	t, err := store.CreateAPIToken(ctx, status.APIToken{Hash: hash, Name: name, UserID: u.ID})
	if err != nil {
		return fmt.Errorf("create token %s: %w", name, err)
	}
	fmt.Fprintln(stdout, token)
	fmt.Fprintf(stderr, "token %s (ID %d) for %s created; it is shown only this once: send it as `Authorization: Bearer TOKEN` or set FASTFLOW_TOKEN\n", name, t.ID, u.Username)
	return nil
}

func revokeToken(ctx context.Context, store *adminStore, arg string, stderr io.Writer) error {
	tokens, err := store.ListAPITokens(ctx)
	if err != nil {
		return err
	}
	var match []status.APIToken
	if id, err := strconv.ParseInt(arg, 10, 64); err == nil {
		for _, t := range tokens {
			if t.ID == id {
				match = append(match, t)
			}
		}
	} else {
		for _, t := range tokens {
			if t.Name == arg && t.RevokedAt.IsZero() {
				match = append(match, t)
			}
		}
	}
	switch len(match) {
	case 0:
		return fmt.Errorf("no live token %s; see `fastflow token list`", arg)
	case 1:
	default:
		// Only possible for tokens made before names were kept unique.
		return fmt.Errorf("%d live tokens are named %s; revoke them by ID (`fastflow token list`)", len(match), arg)
	}
	t := match[0]
	if err := store.RevokeAPIToken(ctx, t.ID); err != nil {
		return fmt.Errorf("revoke token %s: %w", arg, err)
	}
	fmt.Fprintf(stderr, "token %s (ID %d) of %s revoked\n", t.Name, t.ID, t.Username)
	return nil
}

// readLine reads the first line of r, at most limit bytes, without its line
// ending: a password typed at a terminal or piped from a password manager.
func readLine(r io.Reader, limit int) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, int64(limit)+1)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read stdin: %w", err)
	}
	if len(line) > limit {
		return "", fmt.Errorf("input on stdin is longer than %d bytes", limit)
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if line == "" {
		return "", errors.New("nothing on stdin: pipe the password in or type it")
	}
	return line, nil
}

// terminal returns stdin as a terminal, if it is one.
func terminal(stdin io.Reader) (*os.File, bool) {
	f, ok := stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil, false
	}
	return f, true
}

// readHidden asks a person at a terminal for one line without echoing it.
// ok is false when stdin is not a terminal: the caller reads it as piped
// input, and scripts' output gets no prompt.
func readHidden(stdin io.Reader, stderr io.Writer, prompt string) (value string, ok bool, err error) {
	f, ok := terminal(stdin)
	if !ok {
		return "", false, nil
	}
	fmt.Fprint(stderr, prompt)
	b, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(stderr) // the Enter the user typed was not echoed either
	if err != nil {
		return "", true, fmt.Errorf("read from the terminal: %w", err)
	}
	return string(b), true, nil
}

// readPassword reads a new password: typed twice, unseen, at a terminal;
// one line when piped.
func readPassword(stdin io.Reader, stderr io.Writer, user string) (string, error) {
	pw, ok, err := readHidden(stdin, stderr, "Password for "+user+": ")
	if !ok {
		return readLine(stdin, 4*credentials.MaxPasswordLen)
	}
	if err != nil {
		return "", err
	}
	if pw == "" {
		return "", errors.New("no password typed")
	}
	again, _, err := readHidden(stdin, stderr, "Again: ")
	if err != nil {
		return "", err
	}
	if again != pw {
		return "", errors.New("the two passwords differ; nothing was changed")
	}
	return pw, nil
}

// adminTime prints a stored time for people: UTC, to the second.
func adminTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
