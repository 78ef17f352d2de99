// Package fake is an in-memory runtime.Runtime for tests, and a manual
// clock to run it and the code under test on.
//
// It passes the same conformance suite (runtimetest) as runtime/docker, so
// an operator test against it sees the contract Docker keeps: labels, Since
// and Follow, Stop with grace, 137 and OOMKilled, ErrNotFound, idempotent
// Stop and Remove, re-attach by ID. It starts no goroutines of its own: its
// containers run scripted programs in the clock's AfterFunc callbacks (on a
// Clock, inside Advance; on the real clock, in time.AfterFunc's), which end
// with the containers, and every blocking call waits on the caller's
// goroutine.
//
// # Containers run programs
//
// A container runs a Program, a list of steps:
//
//	fake.Program{
//		fake.Print("installing"),          // a stdout line, stamped with the clock's time
//		fake.PrintErr("warning: old pip"), // a stderr line
//		fake.SetMemory(200 << 20),         // what Stats reports (above the limit: OOM-killed)
//		fake.Sleep(30 * time.Second),      // waits on the clock
//		fake.Exit(1),                      // or OOM(), or Forever(): runs until stopped
//	}
//
// How it takes SIGTERM: OnTERM(delay, code, lines...) prints the lines and
// exits with code after delay (past Stop's grace: SIGKILL, 137);
// IgnoreTERM() waits out the grace (137); without either, a container with
// spec.Init (the operator's) dies at once (143), one without is PID 1 and
// ignores it. A quiet container is one that prints nothing and runs
// Forever(). Echo, Cat, Write, TryWrite, PrintWorkDir, PrintMemLimit and
// PrintMilliCPUs are there for the conformance suite: they expand the env
// and read and write host files through the resolved mounts (RevisionsDir
// for spec.Code, read-only; CacheDirs for spec.Caches; spec.Mounts),
// honouring ReadOnly.
//
// Start takes the program from a command Command(p) made, otherwise from
// Config.Program (replaced by SetProgram), which sees the operator's spec:
//
//	clk := fake.NewClock(time.Time{})
//	rt := fake.New(fake.Config{
//		Clock:        clk,
//		RevisionsDir: dataDir + "/revisions",
//		CacheDirs:    map[string]string{runtime.CacheUV: dataDir + "/uv"},
//		Program: func(spec runtime.RunSpec) fake.Program {
//			switch spec.Pipeline {
//			case "hello":
//				return fake.Program{fake.Print("hello"), fake.Exit(0)}
//			case "hog":
//				return fake.Program{fake.SetMemory(1 << 40)}
//			}
//			return nil // not found: exits at once with 127
//		},
//	})
//
// A program runs up to its first Sleep inside Start; after that it steps
// only when the clock is advanced. Clock.Advance runs every step that falls
// due before it returns, so a test that advances the clock knows what the
// containers have printed, and when, to the nanosecond. A nil Config.Clock
// runs programs in real time.
//
// # Health checks
//
// A container has a health check when its spec has one or its image has
// one in Config.HealthChecks (the image's HEALTHCHECK). Its command is
// FileProbe(path, healthy): every interval on the clock the fake reads the
// file at path in the container, as Cat does, and the probe passes while
// the file's first line is healthy, so a program turns its container
// unhealthy with a Write. Health reports the state, the failing streak and
// the last five probes, with Docker's rules for retries and start period.
//
// # Scripting the daemon
//
//   - SetAvailable(false) takes the daemon down: every call of every client
//     fails with ErrDown, which wraps runtime.ErrUnavailable, and the open
//     Logs and Stats streams, Waits and Stops break with it (and stay
//     broken). Containers go on running; KillAll kills them all (137), a
//     daemon that went down with them. SetAvailable(true) brings it back;
//     Connect returns a new client, as a restarted operator opens, which
//     finds the containers with List and re-attaches by ID.
//   - Fail(m, err) makes every call of method m fail with err until
//     Fail(m, nil); FailNext(m, errs...) fails the next calls in turn.
//   - Hang(m) makes calls of m block until their context ends or the
//     returned release is called: Hang(MethodStop) is a Stop that hangs.
//   - Emit, Finish, OOMKill and Vanish act on a running container from the
//     test: print a line, end it with a code, OOM-kill it, or remove it
//     behind the operator's back.
//
// # Looking in
//
// Containers, Container(id) and ContainerOfRun(runID) return Snapshots:
// the spec as Start got it, the resolved mounts, state and exit, every line,
// whether it was stopped (and with what grace) or removed, and the calls
// that addressed it. Calls(m) counts a method's calls; WaitCalls(ctx, m, n)
// waits for the n-th, once it has taken effect; Await(ctx, cond) waits for
// any condition over the fake's state.
//
// # The clock
//
// Clock is a manual clock: Now, Since, Until, NewTimer, NewTicker, After,
// AfterFunc, Advance(d) and BlockUntil(ctx, n), which waits until n timers
// or tickers are pending, so a test advances only once the goroutines it
// drives are parked on the clock. Its Timer has the operator's method set
// (C, Reset, Stop, with Go 1.23 semantics) and is an alias of an unnamed
// interface type, so *Clock satisfies an interface another package declares
// with the same alias without importing this one. Errors, sentinels and
// what each call returns are in the method docs.
package fake
