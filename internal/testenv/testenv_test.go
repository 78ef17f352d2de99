package testenv_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/fastflow-dev/fastflow/internal/testenv"
)

func TestInCI(t *testing.T) {
	tests := []struct {
		ci   string
		want bool
	}{
		{ci: "", want: false},
		{ci: "false", want: false},
		{ci: "0", want: false},
		{ci: "not a bool", want: false},
		{ci: "true", want: true},
		{ci: "TRUE", want: true},
		{ci: "1", want: true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("CI=%q", tt.ci), func(t *testing.T) {
			t.Setenv(testenv.CIEnv, tt.ci)
			if got := testenv.InCI(); got != tt.want {
				t.Errorf("InCI() = %v, want %v", got, tt.want)
			}
		})
	}
}

// recorder stands in for the testing.TB given to Require and records what
// it was told to do. Skip and Fatal end the calling goroutine, as the real
// ones do; anything else Require might call panics on the nil TB.
type recorder struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (r *recorder) Helper() {}
func (r *recorder) Skip(args ...any) {
	r.skipped, r.msg = true, fmt.Sprint(args...)
	runtime.Goexit()
}
func (r *recorder) Fatal(args ...any) {
	r.failed, r.msg = true, fmt.Sprint(args...)
	runtime.Goexit()
}

type outcome struct {
	Skipped, Failed, Returned bool
}

func TestRequire(t *testing.T) {
	missing := errors.New("no server at 127.0.0.1:5432 (start one with scripts/test-env.sh)")
	tests := []struct {
		name     string
		ci       string
		err      error
		want     outcome
		wantMsgs []string
	}{
		{name: "missing on a developer machine skips", ci: "", err: missing, want: outcome{Skipped: true},
			wantMsgs: []string{"PostgreSQL: ", missing.Error()}},
		{name: "missing with CI=false skips", ci: "false", err: missing, want: outcome{Skipped: true},
			wantMsgs: []string{"PostgreSQL: ", missing.Error()}},
		{name: "missing under CI=true fails", ci: "true", err: missing, want: outcome{Failed: true},
			wantMsgs: []string{"PostgreSQL: ", missing.Error(), "CI=true", "needs PostgreSQL"}},
		{name: "present under CI=true returns", ci: "true", err: nil, want: outcome{Returned: true}},
		{name: "present on a developer machine returns", ci: "", err: nil, want: outcome{Returned: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(testenv.CIEnv, tt.ci)
			r := &recorder{}
			var returned bool
			done := make(chan struct{})
			go func() {
				defer close(done)
				testenv.Require(r, "PostgreSQL", tt.err)
				returned = true
			}()
			<-done
			got := outcome{Skipped: r.skipped, Failed: r.failed, Returned: returned}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Require outcome (-want +got):\n%s\nmessage: %s", diff, r.msg)
			}
			for _, m := range tt.wantMsgs {
				if !strings.Contains(r.msg, m) {
					t.Errorf("message %q does not contain %q", r.msg, m)
				}
			}
			if !tt.want.Failed && strings.Contains(r.msg, "CI=true") {
				t.Errorf("message %q mentions CI=true outside CI", r.msg)
			}
		})
	}
}

// helperEnv makes the test binary run TestRequireHelper for real.
const helperEnv = "FASTFLOW_TESTENV_HELPER"

// TestRequireHelper is run by TestRequireRealTest in a child process; on
// its own it does nothing.
func TestRequireHelper(t *testing.T) {
	if os.Getenv(helperEnv) == "" {
		t.Skip("helper of TestRequireRealTest")
	}
	testenv.Require(t, "Chromium", errors.New("no browser on PATH"))
	t.Log("still running after Require")
}

// TestRequireRealTest runs Require on a real *testing.T in a child test
// process: the go test verdict must be SKIP on a developer machine and FAIL
// under CI=true, and the test must not go on after Require.
func TestRequireRealTest(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child test process")
	}
	tests := []struct {
		name     string
		ci       string
		wantFail bool
		want     string
	}{
		{name: "developer machine skips", ci: "", want: "--- SKIP: TestRequireHelper"},
		{name: "CI=true fails", ci: "true", wantFail: true, want: "--- FAIL: TestRequireHelper"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestRequireHelper$", "-test.v")
			cmd.Env = append(os.Environ(), helperEnv+"=1", testenv.CIEnv+"="+tt.ci)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if failed := errors.As(err, &exit); failed != tt.wantFail || (err != nil && !failed) {
				t.Fatalf("child test: %v, want failure %v\n%s", err, tt.wantFail, out)
			}
			if !strings.Contains(string(out), tt.want) {
				t.Errorf("child output lacks %q:\n%s", tt.want, out)
			}
			if !strings.Contains(string(out), "Chromium: no browser on PATH") {
				t.Errorf("child output does not say what is missing:\n%s", out)
			}
			if strings.Contains(string(out), "still running after Require") {
				t.Errorf("the test went on after Require:\n%s", out)
			}
		})
	}
}
