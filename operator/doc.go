// Package operator is Fast-Flow's control loop: it keeps the live snapshot
// of the pipelines repository current, fires schedules, admits runs and
// supervises each run to its end.
//
// The pieces, each owning one thing:
//
//   - Operator (operator.go) syncs the repository (startup, polling,
//     requests), reconciles what the last process left (reconcile.go) and
//     owns the goroutines below; Run blocks until its context ends, then
//     applies SHUTDOWN_POLICY.
//   - scheduler (scheduler.go) turns the snapshot's schedules into fires,
//     with catch-up after downtime; fire times come from fires.go.
//   - admission (admission.go) decides which runs start. The decision —
//     MAX_CONCURRENT_RUNS, the FIFO queue, a schedule's Forbid policy, the
//     fire claim — is one transaction of the store (status.AdmissionStore),
//     so it holds for every process on the database. Its dispatcher claims
//     queued runs as slots free and when a retry's delay is over.
//   - runner (runner.go) owns one run from its slot to its final status:
//     warm-up wait, start or re-attach, output (transcript.go) and samples,
//     timeout and stall checks, stop requests, classification
//     (classify.go), the stored outcome, the retry, the container's
//     removal. Once the operator decided to stop a run, the outcome is the
//     operator's reason whatever the runtime says afterwards.
//   - session (session.go) is one attachment to a container: its log and
//     stats pumps and its Wait. Runs and warm-ups (preheat.go) share it,
//     and containerSpec (spec.go) builds both their containers.
//
// Time comes from a Clock (clock.go), real by default; the tests drive it,
// with runtime/fake as the container engine, to pin the lifecycle without
// sleeping.
package operator
