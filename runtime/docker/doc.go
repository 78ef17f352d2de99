// Package docker runs pipeline containers on a Docker engine through the
// docker/docker API client; *Client implements runtime.Runtime.
//
// The client negotiates the API version with the daemon on first use. That is
// what lets one binary talk to Debian's dockerd 20.10 (API 1.41) as well as a
// current engine; without it the client's newer default version is refused
// by an older daemon. Nothing newer than API 1.41 is used.
//
// A run's container is named fastflow-<run ID> and labelled with the run,
// pipeline, revision and kind, so a second Start of one run is a conflict and
// a restarted operator finds its runs with List. Memory swap is limited to
// the memory limit, the json-file log driver keeps at most 10m x 3 by
// default, and nothing is auto-removed: the operator removes a container once
// its logs and exit status are stored.
//
// Errors: a container that does not exist wraps runtime.ErrNotFound; a daemon
// that does not answer wraps ErrDaemonUnreachable, which wraps
// runtime.ErrUnavailable; a missing image that cannot be pulled wraps
// runtime.ErrImage. Transient failures (connection refused or dropped, 5xx)
// of the calls that are safe to repeat (inspect, list, logs, stats, wait,
// start, stop, remove) are retried with exponential backoff (100, 200 and
// 400 ms). Create is retried too, but as it is not idempotent a retried
// create that conflicts adopts the existing container only when it carries
// this run's label. Ping is not retried: /health wants the answer of now.
package docker
