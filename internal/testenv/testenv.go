// Package testenv is what the tests that need a real part of their
// environment (a Docker engine, PostgreSQL, Chromium) share: whether they run
// in CI, and Require, which turns a missing part into a skip on a developer
// machine and into a failure under CI=true, so a green CI run means those
// tests ran (DESIGN.md, "Testing"). scripts/test-env.sh brings the parts up
// on Debian as root.
//
// Helpers for one part build on it and live with that part, such as
// runtime/docker/dockertest for Docker.
package testenv

import (
	"os"
	"strconv"
	"testing"
)

// CIEnv names the environment variable that marks a CI run. Any value
// strconv.ParseBool reads as true counts ("true", "1", "TRUE", ...).
const CIEnv = "CI"

// InCI reports whether the tests run in CI, where a missing part fails a
// test instead of skipping it.
func InCI() bool {
	ci, _ := strconv.ParseBool(os.Getenv(CIEnv))
	return ci
}

// Require does nothing when err is nil. Otherwise what (a part such as
// "Docker", "PostgreSQL" or "Chromium") is missing or unusable, and Require
// ends the test: it skips it on a developer machine and fails it under
// CI=true. err says why the part cannot be used and, where there is one,
// how to get it; both are in the message.
//
// Like t.Skip and t.Fatal, Require must be called from the goroutine
// running the test.
func Require(t testing.TB, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	msg := what + ": " + err.Error()
	if InCI() {
		t.Fatal(msg + " [" + CIEnv + "=true: a test that needs " + what + " must run, so its absence is a failure]")
	}
	t.Skip(msg)
}
