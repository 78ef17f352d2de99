package dockertest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fastflow-dev/fastflow/internal/testenv"
	"github.com/fastflow-dev/fastflow/runtime"
)

// leftoverTimeout bounds the whole leftover check: connecting, listing and
// removing.
const leftoverTimeout = time.Minute

// ErrNoDaemon is wrapped by CheckLeftovers when no usable daemon answers.
var ErrNoDaemon = errors.New("dockertest: no Docker daemon answers")

// Owned picks, by its labels, a run container the calling test binary
// started. Packages test in parallel against the same daemon, so each
// binary must recognise its own: by a label value unique to the process,
// or by the fastflow-instance names its tests used.
type Owned func(labels map[string]string) bool

// LabelIs owns the containers whose label key has value.
func LabelIs(key, value string) Owned {
	return func(labels map[string]string) bool {
		v, ok := labels[key]
		return ok && v == value
	}
}

// Main is a TestMain for packages whose tests start run containers: it runs
// the tests, then removes the run containers (runtime.LabelRunID) owned
// picks and fails the package if there were any, since every test must
// remove what it starts on every path. It does not return.
//
// Without a daemon there is nothing to check, and a package that never
// needed one passes. Under CI=true, once a test asked for Docker
// (RequireDocker, RequireImage), a daemon the check cannot reach fails the
// package: the check must have run.
func Main(m *testing.M, owned Owned) {
	code := m.Run()
	os.Exit(afterTests(code, owned, wanted.Load() && testenv.InCI(), os.Stderr))
}

// afterTests is Main's check after the tests ended with code; it reports to
// w and returns the exit code. mustCheck makes a missing daemon a failure.
func afterTests(code int, owned Owned, mustCheck bool, w io.Writer) int {
	ctx, cancel := context.WithTimeout(context.Background(), leftoverTimeout)
	defer cancel()
	left, err := CheckLeftovers(ctx, owned)
	switch {
	case errors.Is(err, ErrNoDaemon) && !mustCheck:
		return code
	case err != nil:
		fmt.Fprintf(w, "FAIL: the check for run containers left behind by the tests did not run: %v\n", err)
	case left != "":
		fmt.Fprintf(w, "FAIL: run containers left behind by the tests (removed now):\n%s\n", left)
	default:
		return code
	}
	if code == 0 {
		code = 1
	}
	return code
}

// CheckLeftovers removes the run containers (runtime.LabelRunID) of the
// daemon the environment selects that owned picks, running or exited, and
// describes them, one line each; it returns "" when there were none. An
// error wraps ErrNoDaemon when no usable daemon answers; containers it
// could not remove are reported and make the error too.
func CheckLeftovers(ctx context.Context, owned Owned) (string, error) {
	c, err := connect()
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrNoDaemon, err)
	}
	defer c.Close()
	all, err := c.List(ctx, nil)
	if err != nil {
		return "", fmt.Errorf("list run containers: %w", err)
	}
	var lines []string
	var errs []error
	for _, ctr := range all {
		if !owned(ctr.Labels) {
			continue
		}
		lines = append(lines, describe(ctr))
		if err := c.Remove(ctx, ctr.ID); err != nil {
			errs = append(errs, fmt.Errorf("remove leftover %s: %w", shortID(ctr.ID), err))
		}
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n"), errors.Join(errs...)
}

// describe is one leftover container as CheckLeftovers reports it.
func describe(c runtime.Container) string {
	s := fmt.Sprintf("%s run=%s pipeline=%s kind=%s state=%s", shortID(c.ID), c.RunID, c.Pipeline, c.Kind, c.State)
	if inst := c.Labels[runtime.LabelInstance]; inst != "" {
		s += " instance=" + inst
	}
	return s
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
