// Package metrics turns a run's raw resource samples into CPU and RAM points,
// flags soft-limit excess and throttling, tracks the run's peaks, and keeps
// the points in LOGS_DIR/<pipeline>/<run_id>_metrics.jsonl, one JSON object
// a line, beside the run's log. Live readers get the points through the same
// generic hub as log lines (logs.Hub[Point]).
package metrics
