package dockertest_test

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/fastflow-dev/fastflow/runtime/docker/dockertest"
)

// recorder stands in for the testing.TB given to RequireDocker and records
// what it was told to do. Skip and Fatal end the calling goroutine, as the
// real ones do.
type recorder struct {
	testing.TB
	skipped  bool
	failed   bool
	msg      string
	cleanups int
}

func (r *recorder) Helper()               {}
func (r *recorder) Cleanup(func())        { r.cleanups++ }
func (r *recorder) Errorf(string, ...any) {}
func (r *recorder) Skip(args ...any) {
	r.skipped, r.msg = true, fmt.Sprint(args...)
	runtime.Goexit()
}
func (r *recorder) Fatal(args ...any) {
	r.failed, r.msg = true, fmt.Sprint(args...)
	runtime.Goexit()
}

type outcome struct {
	Skipped, Failed, GotClient bool
	Cleanups                   int
}

func TestRequireDocker(t *testing.T) {
	dir, err := os.MkdirTemp("", "ffdt")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	dead := "unix://" + filepath.Join(dir, "missing.sock")

	sock := filepath.Join(dir, "d.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Api-Version", "1.41")
		_, _ = w.Write([]byte("OK"))
	}))
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	alive := "unix://" + sock

	tests := []struct {
		name    string
		host    string
		ci      string
		want    outcome
		wantMsg string
	}{
		{name: "no daemon on a developer machine skips", host: dead, ci: "", want: outcome{Skipped: true}, wantMsg: "no daemon answers"},
		{name: "no daemon with CI=false skips", host: dead, ci: "false", want: outcome{Skipped: true}, wantMsg: "no daemon answers"},
		{name: "no daemon under CI=true fails", host: dead, ci: "true", want: outcome{Failed: true}, wantMsg: "CI=true"},
		{name: "a daemon answers", host: alive, ci: "true", want: outcome{GotClient: true, Cleanups: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("DOCKER_HOST", tt.host)
			t.Setenv("CI", tt.ci)
			r := &recorder{}
			var gotClient bool
			done := make(chan struct{})
			go func() {
				defer close(done)
				gotClient = dockertest.RequireDocker(r) != nil
			}()
			<-done
			got := outcome{Skipped: r.skipped, Failed: r.failed, GotClient: gotClient, Cleanups: r.cleanups}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("RequireDocker outcome (-want +got):\n%s\nmessage: %s", diff, r.msg)
			}
			if !strings.Contains(r.msg, tt.wantMsg) {
				t.Errorf("message %q does not mention %q", r.msg, tt.wantMsg)
			}
		})
	}
}
