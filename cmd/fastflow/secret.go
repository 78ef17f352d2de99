package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/fastflow-dev/fastflow/status/secrets"
)

// keygenCmd is `fastflow keygen`: a new ENCRYPTION_KEY in the standard
// Fernet format, on stdout alone so it can be captured.
func keygenCmd(stdout io.Writer) error {
	k, err := secrets.GenerateKey()
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, k)
	return err
}

// secretCmd is `fastflow secret set NAME`, `secret list` and `secret rm
// NAME`. A value comes from stdin only: argv is visible to every user of
// the machine and lands in shell history.
func secretCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, environ []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: secret set NAME | secret list | secret rm NAME", errUsage)
	}
	sub, rest := args[0], args[1:]
	switch sub {
	case "set", "rm":
		if len(rest) != 1 {
			return fmt.Errorf("%w: secret %s NAME (a value is read from stdin, never from the command line)", errUsage, sub)
		}
		if err := secrets.ValidateName(rest[0]); err != nil {
			return err
		}
	case "list":
		if len(rest) != 0 {
			return fmt.Errorf("%w: secret list takes no arguments", errUsage)
		}
	default:
		return fmt.Errorf("%w: unknown secret command %q (want set, list or rm)", errUsage, sub)
	}

	store, err := openAdminStore(ctx, stderr, environ)
	if err != nil {
		return err
	}
	defer store.Close()
	vault, err := secrets.New(store, store.env["ENCRYPTION_KEY"])
	if err != nil {
		return err
	}
	switch sub {
	case "set":
		name := rest[0]
		if !vault.HasKey() {
			// Before reading stdin: nobody should type a secret for nothing.
			return fmt.Errorf("secret set %s: %w", name, secrets.ErrNoKey)
		}
		value, typed, err := readHidden(stdin, stderr, "Value of "+name+" (not shown): ")
		if !typed {
			value, err = readSecretValue(stdin)
		}
		if err != nil {
			return err
		}
		if value == "" {
			return errors.New("no value typed")
		}
		if err := vault.Set(ctx, name, value); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "secret %s stored\n", name)
	case "rm":
		if err := vault.Delete(ctx, rest[0]); err != nil {
			if errors.Is(err, secrets.ErrNotFound) {
				return fmt.Errorf("no secret %s; see `fastflow secret list`", rest[0])
			}
			return err
		}
		fmt.Fprintf(stderr, "secret %s removed\n", rest[0])
	case "list":
		list, err := vault.List(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tCREATED\tUPDATED")
		for _, s := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", s.Name, adminTime(s.CreatedAt), adminTime(s.UpdatedAt))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		// Listing needs no key, but a key that cannot read these secrets
		// is worth knowing before `serve` refuses to start.
		if err := vault.Check(ctx); err != nil {
			fmt.Fprintln(stderr, "warning:", err)
		}
	}
	return nil
}

// readSecretValue reads the whole of stdin. One line has its line ending
// dropped (`echo s3cret | fastflow secret set X` means "s3cret"); more
// lines, such as a PEM key, are kept byte for byte.
func readSecretValue(stdin io.Reader) (string, error) {
	b, err := io.ReadAll(io.LimitReader(stdin, secrets.MaxValueLen+1))
	if err != nil {
		return "", fmt.Errorf("read stdin: %w", err)
	}
	if len(b) > secrets.MaxValueLen {
		return "", fmt.Errorf("value on stdin is longer than %d bytes", secrets.MaxValueLen)
	}
	v := string(b)
	if body, ok := strings.CutSuffix(v, "\n"); ok && !strings.Contains(body, "\n") {
		v = strings.TrimSuffix(body, "\r")
	}
	if v == "" {
		return "", errors.New("nothing on stdin: pipe the value in, e.g. `printf %s \"$VALUE\" | fastflow secret set NAME`")
	}
	return v, nil
}
