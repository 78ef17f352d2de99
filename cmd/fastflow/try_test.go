package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/fastflow-dev/fastflow/repo/gittest"
	"github.com/fastflow-dev/fastflow/runtime/docker/dockertest"
)

func TestTryRunsOnePipeline(t *testing.T) {
	dockertest.RequireImage(t, dockertest.WorkerImage)
	remote := gittest.New(t)
	remote.Commit("two", map[string]string{
		"ok/main.py":  "import os\nprint('hi', os.environ['WHO'])\n",
		"bad/main.py": "import sys\nprint('oops', file=sys.stderr)\nsys.exit(4)\n",
	})
	environ := []string{"GIT_REPO_URL=" + remote.Dir, "WORKER_BASE_IMAGE=fastflow-worker:local", "WORKER_NETWORK=none",
		"UV_CACHE_DIR=" + t.TempDir(), "LOG_LEVEL=error"}
	tests := []struct {
		args     []string
		wantOut  string
		wantCode int
	}{
		{args: []string{"try", "ok", "--env", "WHO=there"}, wantOut: "hi there\n"},
		{args: []string{"try", "bad"}, wantOut: "[stderr] oops\n", wantCode: 4},
	}
	for _, tt := range tests {
		t.Run(tt.args[1], func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(context.Background(), tt.args, nil, &out, &errOut, environ)
			code := 0
			var exit exitError
			if errors.As(err, &exit) {
				code = exit.code
			} else if err != nil {
				t.Fatalf("try: %v\n%s", err, errOut.String())
			}
			if code != tt.wantCode || out.String() != tt.wantOut {
				t.Errorf("try %s: exit %d, stdout %q; want %d, %q\nstderr: %s", tt.args[1], code, out.String(), tt.wantCode, tt.wantOut, errOut.String())
			}
			if !strings.Contains(errOut.String(), tt.args[1]+": ") {
				t.Errorf("no outcome line on stderr: %q", errOut.String())
			}
		})
	}
}
