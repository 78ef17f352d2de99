// Package health keeps the history of a run container's health check: the
// state changes and the latest probes, in LOGS_DIR/<pipeline>/<run_id>_health.json
// beside the run's log and metrics files. The operator writes it while it
// watches a run; the run page and GET /api/runs/{id}/health read it, also
// after the run ended, until retention removes it with the log.
package health
