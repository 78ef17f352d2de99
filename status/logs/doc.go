// Package logs keeps the output of runs: one file per run at
// LOGS_DIR/<pipeline>/<run_id>.log, a live fan-out of the recent lines of each
// running run to any number of readers, and the masking of secret values
// before a line is stored or streamed.
//
// # File format
//
// Each stored line is
//
//	<timestamp> <stream> <text>\n
//
// where timestamp is RFC 3339 in UTC with nine fractional digits (fixed
// width, so a log reads as aligned columns and sorts as text), stream is
// "stdout", "stderr" or "system" (notices of the operator itself, such as
// the size-limit marker), and text is the line as masked. Line numbers are
// 1-based and implicit: the Nth line of the file is line N. A last line
// without its newline is a write cut short by a crash; readers ignore it and
// Open removes it, so the operator can resume from the last complete line.
//
// # Lifecycle
//
// The run's own goroutine opens a [Writer], writes every line through it and
// closes it; the writer masks each line with a [Masker], stores it (bounded by
// Options.MaxBytes) and publishes it to the run's [Hub]. Readers (the API's
// SSE streams) subscribe to the hub and are cut off when they fall behind,
// so a slow reader never slows the run. [Hubs] maps run IDs to hubs for the
// API to find them. [LastLine], [Read] and [Tail] read finished or running
// logs from their files.
//
// A [Follower] is the reader side of that contract, for any [Sequenced]
// item (log lines here, metrics points in status/metrics): it merges the
// stored items of a [Source] with the live hub, refills what the hub no
// longer keeps, resubscribes when it is cut off, and applies a rate limit,
// so its [Sink] gets every number once, as an item or in a [Gap]. The web
// UI's SSE streams are such sinks.
package logs
