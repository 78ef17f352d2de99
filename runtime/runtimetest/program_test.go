package runtimetest

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// requireSh returns the host's sh; Shell's scripts are POSIX, so the host's
// shell runs every step that needs no cgroup or container.
func requireSh(t *testing.T) string {
	t.Helper()
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skipf("no sh on this host: %v", err)
	}
	return sh
}

func TestShellScriptRunsOnSh(t *testing.T) {
	t.Parallel()
	sh := requireSh(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "in.txt"), []byte("first\nsecond's\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := Program{
		Print("stdout", "A=$FF_A, B=${FF_B}."),
		Print("stderr", `quotes "double" 'single' and `+"`ticks`"),
		PrintWorkDir("pwd="),
		Cat(filepath.Join(dir, "in.txt")),
		Write(filepath.Join(dir, "it's.txt"), "written"),
		TryWrite(filepath.Join(dir, "new"), "rw="),
		Hold(1000),
		Sleep(10 * time.Millisecond),
		PrintHeld(),
		Print("stdout", ""),
		PrintPartial("stdout", "end"),
		Exit(3),
	}
	argv := Shell(p)
	if argv[0] != "sh" || argv[1] != "-c" {
		t.Fatalf("Shell = %q, want sh -c <script>", argv)
	}
	cmd := exec.Command(sh, argv[1:]...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), `FF_A=with space = and 'quotes'`, `FF_B="dq"`)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Fatalf("sh: %v, want exit 3; stderr %q", err, stderr.String())
	}
	wantOut := "A=with space = and 'quotes', B=\"dq\".\npwd=" + dir + "\nfirst\nsecond's\nrw=writable\n1000\n\nend"
	if diff := cmp.Diff(wantOut, stdout.String()); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}
	if want := "quotes \"double\" 'single' and `ticks`\n"; stderr.String() != want {
		t.Errorf("stderr = %q, want %q", stderr.String(), want)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "it's.txt")); err != nil || string(b) != "written\n" {
		t.Errorf("written file: %q, %v", b, err)
	}
}

func TestShellTrapTERM(t *testing.T) {
	t.Parallel()
	sh := requireSh(t)
	tests := []struct {
		name     string
		trap     Step
		wantOut  string
		wantCode int
	}{
		{"trap prints and exits", TrapTERM(4, "got TERM", "it's done"), "ready\ngot TERM\nit's done\n", 4},
		// A child shell is no PID 1: ignoring is what keeps it alive,
		// until the test kills it.
		{"ignored", IgnoreTERM(), "ready\n", -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			argv := Shell(Program{tt.trap, Print("stdout", "ready"), Forever()})
			cmd := exec.Command(sh, argv[1:]...)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			r := bufio.NewReader(out)
			if l, err := r.ReadString('\n'); err != nil || l != "ready\n" {
				t.Fatalf("first line %q, %v", l, err)
			}
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if tt.wantCode < 0 {
				// Still running a while later: then kill it.
				time.Sleep(300 * time.Millisecond)
				if err := cmd.Process.Kill(); err != nil {
					t.Fatal(err)
				}
			}
			rest, _ := io.ReadAll(r)
			err = cmd.Wait()
			code := cmd.ProcessState.ExitCode()
			if tt.wantCode < 0 {
				if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
					t.Errorf("ended with %v, want SIGKILL: it did not ignore TERM", err)
				}
			} else if code != tt.wantCode {
				t.Errorf("exit %d (%v), want %d", code, err, tt.wantCode)
			}
			if got := "ready\n" + string(rest); got != tt.wantOut {
				t.Errorf("output %q, want %q", got, tt.wantOut)
			}
		})
	}
}

func TestShellMissingCommand(t *testing.T) {
	t.Parallel()
	if got := Shell(Program{MissingCommand()}); !cmp.Equal(got, []string{missingCommand}) {
		t.Errorf("Shell = %q, want the missing command itself, not a shell", got)
	}
}
