// Package kubernetes runs pipeline containers as batch/v1 Jobs on a
// Kubernetes cluster through k8s.io/client-go; *Client implements
// runtime.Runtime.
//
// One run is one Job named after the run (its ID in the runtime contract),
// with backoffLimit 0, since retries are Fast-Flow's own, and a
// ttlSecondsAfterFinished only as a safety net: the operator removes a Job
// once its logs and exit status are stored. The Job and its pod carry the
// runtime labels and the spec's, so List finds them again after a restart.
//
// Outcomes come from the pod: the exit code and the OOMKilled reason from the
// container's terminated state (the Job itself only says
// BackoffLimitExceeded), 127 or 126 for a command the runtime could not
// execute, and 125 with the kubelet's words for an image that cannot be
// pulled, a pod that cannot be scheduled within Config.ScheduleTimeout, or a
// pod that vanished before its container ended.
//
// Kubernetes has no "stop a container" call. Stop deletes the run's pod with
// the grace period, which sends SIGTERM and, after the grace, SIGKILL, waits
// for the container's terminated state and records it on the Job (an
// annotation), so Wait and List report it after the pod is gone. Remove
// deletes the Job with propagation policy Background (the API's default for
// batch/v1 would leave the pod running) and its pods at once.
//
// Errors: a Job that does not exist wraps runtime.ErrNotFound; an API
// server that does not answer wraps ErrAPIUnreachable, which wraps
// runtime.ErrUnavailable. Every request but a create is repeated when the
// server could not be reached or answered 500, 502, 503 or 504 (after 100,
// 200 and 400 ms); a create is not, as it may have been made.
//
// Logs come from the pod log API. It has no stream marker unless the cluster
// enables the PodLogsQuerySplitStreams feature (alpha in 1.32 and 1.33):
// with it (the default) stdout and stderr are asked for separately and merged
// by the kubelet's timestamps; Config.MergedStreams reads them as one stream,
// every line reported as stdout. Stats come from the kubelet's summary API
// through the API server (nodes/<node>/proxy/stats/summary), about once a
// second.
//
// Env is plain container env: RunSpec does not tell secret values from
// parameters, so a per-run Secret for them waits for RunSpec to. A cache
// is the PersistentVolumeClaim Config.CachePVCs names for it, or an
// emptyDir (no cache between runs). Mounts are hostPath volumes,
// meaningful only where every node has the folder (site setup beside the
// workers). Code reaches the pod without host paths: the files of
// Config.RevisionsDir/<revision>/<pipeline> go into one immutable
// ConfigMap per revision and pipeline, mounted read-only at
// Target/<pipeline> and shared by that pair's runs, each Job one of its
// owners, so the garbage collector deletes it once no run needs it. A
// pipeline over the 1 MiB a ConfigMap holds is refused with
// ErrCodeTooLarge naming its size; such a pipeline needs its code baked
// into the worker image (or its data kept out of the repository). RunSpec.Network is not applied (pods always join the
// cluster's pod network; isolating them is a NetworkPolicy's job) and
// neither are RunSpec.Log's limits (the kubelet's containerLogMaxSize
// rules there).
package kubernetes
