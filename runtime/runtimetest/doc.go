// Package runtimetest is the conformance suite every runtime.Runtime backend
// must pass: Docker now, Kubernetes later.
//
// The suite drives the backend only through the runtime contract and uses
// nothing from the image but a POSIX shell and busybox-style tools (echo,
// cat, sleep, head, tail, tr), so the same commands run wherever a backend
// puts them. It starts real containers; each one is removed in t.Cleanup,
// whether its subtest passed or not.
//
// A backend's test calls it once:
//
//	func TestConformance(t *testing.T) {
//		runtimetest.Run(t, runtimetest.Config{
//			New:   func(t *testing.T) runtime.Runtime { return newBackend(t) },
//			Image: "fastflow-probe:local",
//		})
//	}
package runtimetest
