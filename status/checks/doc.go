// Package checks reports Fast-Flow's view of a commit back to GitHub as check
// runs: one "fastflow/validate" check run per synced commit and one
// "fastflow/<pipeline>" check run per run.
//
// Reporting must never delay or fail a run, so the operator only enqueues:
// [Reporter.Validation], [Reporter.RunStarted] and [Reporter.RunFinished]
// copy their arguments into a bounded in-memory queue and return at once.
// [Reporter.Run] owns the one goroutine that talks to GitHub. It sends
// requests serially, as GitHub asks integrations to do to stay clear of
// secondary rate limits, and retries what can succeed later (network errors,
// 5xx, 429 and 403 rate limits, honouring Retry-After and X-RateLimit-Reset)
// with capped exponential backoff. A report that GitHub refuses (any other
// 4xx) or that cannot be delivered within [Config.MaxAge] is logged and
// dropped.
//
// Reports about the same run (or the same validated commit) are delivered in
// the order they were made: the completion of a run never overtakes the
// in_progress creation of its check run. Reports about different runs do not
// wait for each other, except while GitHub rate-limits the installation,
// which pauses everything.
//
// The queue lives in memory only. After a restart, a run finished by the new
// process (for example marked INTERRUPTED during reconciliation) gets a new,
// completed check run; GitHub shows the newest check run of a name, so the
// stale in_progress one is superseded rather than left spinning.
package checks
