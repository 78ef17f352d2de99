// Package operator is Fast-Flow's control loop. It keeps the live snapshot of
// the pipelines repository current (initial sync, polling, sync requests),
// records every sync in the status store, and — as later capabilities land —
// schedules, admits and supervises runs against that snapshot.
package operator
