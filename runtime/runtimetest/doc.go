// Package runtimetest is the conformance suite every runtime.Runtime backend
// must pass: Docker and the in-memory fake now, Kubernetes later.
//
// The suite drives the backend only through the runtime contract. It
// describes what each of its containers does as a Program of abstract steps
// (print a line, print the working directory, read a mounted file, sleep,
// trap SIGTERM, allocate past the memory limit, exit...), and Config.Command
// renders that into the container's command. The default renderer, Shell,
// writes a POSIX sh script that needs nothing from the image but a shell and
// busybox-style tools (echo, cat, sleep, head, tail, tr), so Docker and any
// other backend that runs real containers checks real shell and cgroup
// behaviour; the fake renders the same Program into its own scripted
// program. Each container is removed in t.Cleanup, whether its subtest
// passed or not.
//
// A backend's test calls it once:
//
//	func TestConformance(t *testing.T) {
//		runtimetest.Run(t, runtimetest.Config{
//			New:   func(t *testing.T) runtime.Runtime { return newBackend(t) },
//			Image: "fastflow-probe:local",
//		})
//	}
//
// A backend on a clock of its own (the fake on a test's clock, which runs
// faster than the wall) also sets Config.Now, so the suite's bounds on how
// long a call takes are measured in the backend's time.
package runtimetest
