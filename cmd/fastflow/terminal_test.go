//go:build linux

package main

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/sys/unix"

	"github.com/fastflow-dev/fastflow/status/credentials"
)

// openPTY opens a pseudo-terminal pair: what the test writes to master, a
// command reads from slave as if typed.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { master.Close() })
	// The ioctls go through SyscallConn: Fd would put master in blocking
	// mode and read deadlines would stop working.
	var n int
	rc, err := master.SyscallConn()
	if err == nil {
		cerr := rc.Control(func(fd uintptr) {
			if err = unix.IoctlSetPointerInt(int(fd), unix.TIOCSPTLCK, 0); err == nil {
				n, err = unix.IoctlGetInt(int(fd), unix.TIOCGPTN)
			}
		})
		if err == nil {
			err = cerr
		}
	}
	if err != nil {
		t.Fatalf("unlock pty: %v", err)
	}
	slave, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open pty slave: %v", err)
	}
	t.Cleanup(func() { slave.Close() })
	return master, slave
}

// TestPasswordAtATerminal: at a terminal, `user add` asks for the password
// twice and the terminal never shows it; two different entries change
// nothing.
func TestPasswordAtATerminal(t *testing.T) {
	t.Parallel()
	environ, dataDir := adminEnv(t)
	for _, tt := range []struct {
		name, first, second, wantErr string
	}{
		{name: "typed twice", first: "horse-battery-staple", second: "horse-battery-staple"},
		{name: "typed differently", first: "horse-battery-staple", second: "horse-battery-stapler", wantErr: "differ"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			master, slave := openPTY(t)
			var stderr tailBuffer // safe for the command and the test at once
			done := make(chan error, 1)
			user := strings.ReplaceAll(tt.name, " ", "")
			go func() {
				var out bytes.Buffer
				done <- userCmdWith(t.Context(), credentials.Hasher{Cost: bcrypt.MinCost}, []string{"add", user}, slave, &out, &stderr, environ)
			}()
			// Type each answer only once its prompt is out: the echo is
			// off from then on, and the test checks that it is.
			for _, step := range []struct{ prompt, typed string }{{"Password for " + user + ": ", tt.first}, {"Again: ", tt.second}} {
				deadline := time.Now().Add(10 * time.Second)
				for !strings.Contains(stderr.String(), step.prompt) {
					if time.Now().After(deadline) {
						t.Fatalf("no prompt %q; stderr %q", step.prompt, stderr.String())
					}
					time.Sleep(10 * time.Millisecond)
				}
				if _, err := master.WriteString(step.typed + "\n"); err != nil {
					t.Fatal(err)
				}
			}
			var err error
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("user add did not return")
			}
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("user add: %v, want error %q", err, tt.wantErr)
			}
			if err := master.SetReadDeadline(time.Now().Add(300 * time.Millisecond)); err != nil {
				t.Fatal(err)
			}
			var shown bytes.Buffer
			buf := make([]byte, 4096)
			for {
				n, err := master.Read(buf)
				shown.Write(buf[:n])
				if err != nil {
					break
				}
			}
			if strings.Contains(shown.String(), "horse") {
				t.Errorf("the terminal showed the password: %q", shown.String())
			}
			u, gerr := adminOpen(t, dataDir).GetUser(t.Context(), user)
			switch {
			case tt.wantErr == "" && (gerr != nil || !credentials.CheckPassword(u.PasswordHash, tt.first)):
				t.Errorf("user %s after add: %v, password stored: %v", user, gerr, gerr == nil && credentials.CheckPassword(u.PasswordHash, tt.first))
			case tt.wantErr != "" && gerr == nil:
				t.Errorf("user %s was created although the passwords differed", user)
			}
		})
	}
}
