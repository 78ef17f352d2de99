package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func runCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, nil, &out, &errOut, nil)
	var exit exitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.code
	default:
		t.Fatalf("fastflow %s: %v", strings.Join(args, " "), err)
	}
	return out.String(), errOut.String(), code
}

func TestValidateExitCodes(t *testing.T) {
	t.Parallel()
	good := writeTree(t, map[string]string{
		"hello/main.py":         "print('hi')\n",
		"nightly/main.py":       "print('night')\n",
		"nightly/pipeline.json": `{"schedule": "0 3 * * *", "timeout": 600}`,
		"docs/README.md":        "not a pipeline\n",
	})
	stdout, stderr, code := runCLI(t, "validate", good)
	if code != 0 || stdout != "" || !strings.Contains(stderr, "2 pipelines, all valid") {
		t.Errorf("valid repo: code %d, stdout %q, stderr %q", code, stdout, stderr)
	}

	bad := writeTree(t, map[string]string{
		"hello/main.py":      "print('hi')\n",
		"typo/main.py":       "print('hi')\n",
		"typo/pipeline.json": `{"timout": 60}`,
		"cron/main.py":       "print('hi')\n",
		"cron/pipeline.json": `{"schedule": "every day"}`,
	})
	stdout, stderr, code = runCLI(t, "validate", bad)
	if code != 1 {
		t.Fatalf("invalid repo exited %d, want 1; stdout %q", code, stdout)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 2 {
		t.Fatalf("want one line per problem (2), got:\n%s", stdout)
	}
	for _, want := range []string{"cron/pipeline.json: /schedule", "typo/pipeline.json: "} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	if !strings.Contains(stdout, "timout") {
		t.Errorf("the unknown field is not named:\n%s", stdout)
	}
	if !strings.Contains(stderr, "2 problems in 2 of 3 pipelines") {
		t.Errorf("summary = %q", stderr)
	}

	stdout, _, code = runCLI(t, "validate", "--json", bad)
	var report validateReport
	if err := json.Unmarshal([]byte(stdout), &report); err != nil {
		t.Fatalf("--json output is not JSON: %v\n%s", err, stdout)
	}
	if code != 1 || report.Valid || report.Problems != 2 || len(report.Pipelines) != 3 {
		t.Errorf("--json: code %d, report %+v", code, report)
	}
}

func TestValidateUsage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want int
	}{
		{name: "unknown flag", args: []string{"validate", "--strict"}, want: 2},
		{name: "two directories", args: []string{"validate", "a", "b"}, want: 2},
		{name: "unknown command", args: []string{"frobnicate"}, want: 2},
		{name: "no command", args: nil, want: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, _, code := runCLI(t, tt.args...); code != tt.want {
				t.Errorf("exit code %d, want %d", code, tt.want)
			}
		})
	}
	if _, err := os.Stat("/definitely/not/here"); err == nil {
		t.Skip("unexpected directory")
	}
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"validate", "/definitely/not/here"}, nil, &out, &errOut, nil); err == nil {
		t.Errorf("validate of a missing directory succeeded")
	}
}
