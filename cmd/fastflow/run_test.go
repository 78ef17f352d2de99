package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
)

// TestEveryCommandHelp: `fastflow NAME --help` (and -h, and `help NAME`)
// prints that command's own usage on stdout and exits 0 without doing
// anything, and an unknown flag exits 2 with the same usage on stderr.
func TestEveryCommandHelp(t *testing.T) {
	// An environment under which a command that ran for real would fail
	// loudly, so a help that falls through to the command is caught.
	environ := []string{"DATA_DIR=/nonexistent/fastflow-help-test", "FASTFLOW_URL=http://127.0.0.1:1"}
	for _, c := range commands() {
		t.Run(c.name, func(t *testing.T) {
			want := "Usage: fastflow " + c.synopsis
			for _, args := range [][]string{
				{c.name, "--help"},
				{c.name, "-h"},
				{"help", c.name},
			} {
				var stdout, stderr bytes.Buffer
				err := run(context.Background(), args, strings.NewReader(""), &stdout, &stderr, environ)
				if err != nil {
					t.Errorf("%q: err = %v, want nil (stderr %q)", args, err, stderr.String())
				}
				if !strings.HasPrefix(stdout.String(), want) {
					t.Errorf("%q: stdout = %q, want it to start with %q", args, stdout.String(), want)
				}
				if c.help == "" || !strings.Contains(stdout.String(), c.help) {
					t.Errorf("%q: stdout lacks the command's help text", args)
				}
			}

			var stdout, stderr bytes.Buffer
			err := run(context.Background(), []string{c.name, "--no-such-flag"}, strings.NewReader(""), &stdout, &stderr, environ)
			var exit exitError
			if !errors.As(err, &exit) || exit.code != 2 {
				t.Fatalf("unknown flag: err = %v, want exit status 2 (stderr %q)", err, stderr.String())
			}
			if !strings.Contains(stderr.String(), want) {
				t.Errorf("unknown flag: stderr = %q, want the command's usage", stderr.String())
			}
		})
	}
}

func TestTopLevelUsage(t *testing.T) {
	tests := []struct {
		args     []string
		wantCode int // 0: nil error
		stdout   string
		stderr   string
	}{
		{args: nil, wantCode: 2, stderr: "Usage:\n  fastflow serve"},
		{args: []string{"help"}, stdout: "fastflow backup FILE"},
		{args: []string{"--help"}, stdout: "fastflow restore FILE"},
		{args: []string{"help", "nonsense"}, stdout: "Usage:\n  fastflow serve"},
		{args: []string{"frobnicate"}, wantCode: 2, stderr: `unknown command "frobnicate"`},
		{args: []string{"--version"}, stdout: "schema   "},
		// Help stops at "--": what follows belongs to the command.
		{args: []string{"version", "--", "--help"}, wantCode: 2, stderr: "version takes no arguments"},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), tt.args, strings.NewReader(""), &stdout, &stderr, nil)
		code := 0
		var exit exitError
		if errors.As(err, &exit) {
			code = exit.code
		} else if err != nil {
			code = -1
		}
		if code != tt.wantCode {
			t.Errorf("%q: code %d (err %v), want %d", tt.args, code, err, tt.wantCode)
		}
		if !strings.Contains(stdout.String(), tt.stdout) {
			t.Errorf("%q: stdout %q lacks %q", tt.args, stdout.String(), tt.stdout)
		}
		if !strings.Contains(stderr.String(), tt.stderr) {
			t.Errorf("%q: stderr %q lacks %q", tt.args, stderr.String(), tt.stderr)
		}
	}
}
