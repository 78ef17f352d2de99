package dockertest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fastflow-dev/fastflow/runtime"
)

// deadDaemon points the environment at a socket nobody listens on.
func deadDaemon(t *testing.T) {
	t.Helper()
	dir, err := os.MkdirTemp("", "ffdt") // short: a socket path is limited to ~100 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	t.Setenv("DOCKER_HOST", "unix://"+filepath.Join(dir, "missing.sock"))
}

func TestAfterTestsWithoutDaemon(t *testing.T) {
	tests := []struct {
		name      string
		code      int
		mustCheck bool
		wantCode  int
		wantOut   string
	}{
		{name: "a package that needs no Docker passes", code: 0, wantCode: 0},
		{name: "a failing package keeps its code", code: 2, wantCode: 2},
		{name: "under CI with Docker wanted the package fails", code: 0, mustCheck: true, wantCode: 1, wantOut: "did not run"},
		{name: "under CI with Docker wanted a failing package keeps its code", code: 2, mustCheck: true, wantCode: 2, wantOut: "did not run"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			deadDaemon(t)
			var out strings.Builder
			owned := func(map[string]string) bool { t.Error("owned asked without a daemon"); return false }
			if got := afterTests(tt.code, owned, tt.mustCheck, &out); got != tt.wantCode {
				t.Errorf("afterTests = %d, want %d", got, tt.wantCode)
			}
			if tt.wantOut == "" && out.Len() > 0 || !strings.Contains(out.String(), tt.wantOut) {
				t.Errorf("afterTests wrote %q, want %q", out.String(), tt.wantOut)
			}
		})
	}
}

func TestCheckLeftoversWithoutDaemon(t *testing.T) {
	deadDaemon(t)
	left, err := CheckLeftovers(t.Context(), LabelIs("k", "v"))
	if !errors.Is(err, ErrNoDaemon) || left != "" {
		t.Errorf("CheckLeftovers = %q, %v; want nothing and ErrNoDaemon", left, err)
	}
}

func TestLabelIs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		labels map[string]string
		want   bool
	}{
		{"the value", map[string]string{"owner": "a", "x": "y"}, true},
		{"another value", map[string]string{"owner": "b"}, false},
		{"empty value", map[string]string{"owner": ""}, false},
		{"no such label", map[string]string{"x": "a"}, false},
		{"no labels", nil, false},
	}
	owned := LabelIs("owner", "a")
	for _, tt := range tests {
		if got := owned(tt.labels); got != tt.want {
			t.Errorf("%s: LabelIs(owner, a)(%v) = %v, want %v", tt.name, tt.labels, got, tt.want)
		}
	}
	if LabelIs("owner", "")(map[string]string{}) {
		t.Error(`LabelIs(owner, "") owns a container without the label`)
	}
}

// TestCheckLeftovers starts a container of this test and one of another
// owner: only the first is reported and removed, and a second check finds
// nothing.
func TestCheckLeftovers(t *testing.T) {
	c := RequireImage(t, ProbeImage)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	const ownerLabel = "fastflow-test-owner"
	base := "dockertest-" + strconv.Itoa(os.Getpid()) + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	start := func(runID, owner string) string {
		t.Helper()
		id, err := c.Start(ctx, runtime.RunSpec{
			RunID: runID, Pipeline: "leftover", Revision: "0000000", Kind: "run",
			Image: ProbeImage, Command: []string{"sleep", "300"}, Network: "none",
			Labels: map[string]string{ownerLabel: owner, runtime.LabelInstance: "dockertest"},
		})
		if err != nil {
			t.Fatalf("start %s: %v", runID, err)
		}
		t.Cleanup(func() {
			if err := c.Remove(context.WithoutCancel(ctx), id); err != nil {
				t.Errorf("remove %s: %v", runID, err)
			}
		})
		return id
	}
	mine := start(base+"-mine", base)
	other := start(base+"-other", base+"-someone-else")

	left, err := CheckLeftovers(ctx, LabelIs(ownerLabel, base))
	if err != nil {
		t.Fatalf("CheckLeftovers: %v", err)
	}
	want := mine[:12] + " run=" + base + "-mine pipeline=leftover kind=run state=running instance=dockertest"
	if left != want {
		t.Errorf("CheckLeftovers reported\n%q\nwant\n%q", left, want)
	}
	assertGone(t, c.List, mine, other)

	if left, err := CheckLeftovers(ctx, LabelIs(ownerLabel, base)); left != "" || err != nil {
		t.Errorf("second CheckLeftovers = %q, %v; want nothing", left, err)
	}
}

// TestMainFailsOnLeftovers: what Main does after the tests, with a
// leftover and without.
func TestMainFailsOnLeftovers(t *testing.T) {
	c := RequireImage(t, ProbeImage)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	owner := "dockertest-main-" + strconv.Itoa(os.Getpid()) + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	id, err := c.Start(ctx, runtime.RunSpec{
		RunID: owner, Pipeline: "leftover", Revision: "0000000", Kind: "run",
		Image: ProbeImage, Command: []string{"sleep", "300"}, Network: "none",
		Labels: map[string]string{"fastflow-test-owner": owner},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Remove(context.WithoutCancel(ctx), id) })
	owned := LabelIs("fastflow-test-owner", owner)

	var out strings.Builder
	if code := afterTests(0, owned, true, &out); code != 1 {
		t.Errorf("afterTests with a leftover = %d, want 1", code)
	}
	if s := out.String(); !strings.Contains(s, "left behind") || !strings.Contains(s, id[:12]) {
		t.Errorf("afterTests wrote %q; want the leftover %s named", s, id[:12])
	}
	out.Reset()
	if code := afterTests(0, owned, true, &out); code != 0 || out.Len() > 0 {
		t.Errorf("afterTests once clean = %d, %q; want 0 and nothing", code, out.String())
	}
}

// assertGone checks that gone is no longer listed and kept still is.
func assertGone(t *testing.T, list func(context.Context, map[string]string) ([]runtime.Container, error), gone, kept string) {
	t.Helper()
	found, err := list(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, f := range found {
		ids = append(ids, f.ID)
	}
	if slices.Contains(ids, gone) {
		t.Error("the leftover is still there")
	}
	if !slices.Contains(ids, kept) {
		t.Error("another owner's container was removed")
	}
}
