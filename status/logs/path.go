package logs

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
)

var (
	// ErrBadName: a pipeline name or run ID is not a plain safe name and must
	// never reach the file system.
	ErrBadName = errors.New("logs: not a safe name")
	// ErrBadStream: a line's stream is not stdout, stderr or system.
	ErrBadStream = errors.New("logs: unknown stream")
	// ErrClosed: the writer or hub was closed.
	ErrClosed = errors.New("logs: closed")
	// ErrSlowReader: a subscriber fell so far behind that the hub cut it off
	// rather than wait for it.
	ErrSlowReader = errors.New("logs: reader too slow, cut off")
)

// safeName is deliberately narrower than what a file system accepts: no
// separators, no leading dot (so no "..", no hidden files), bounded length.
var safeName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

// CheckName returns an error wrapping ErrBadName unless name is a plain safe
// name: a letter or digit, then up to 127 letters, digits, '_', '.' or '-',
// and no "..". A name like "a..b" could not escape a directory, but refusing
// it keeps the rule simple to audit.
func CheckName(name string) error {
	if !safeName.MatchString(name) || strings.Contains(name, "..") {
		return fmt.Errorf("%w: %q", ErrBadName, name)
	}
	return nil
}

// Path returns the log file of a run, LOGS_DIR/<pipeline>/<run_id>.log. It
// refuses pipeline names and run IDs that are not safe names (see CheckName),
// so user input can never address a file outside logsDir.
func Path(logsDir, pipeline, runID string) (string, error) {
	return RunFile(logsDir, pipeline, runID, ".log")
}

// RunFile returns LOGS_DIR/<pipeline>/<run_id><suffix> under the same rules
// as Path; the metrics package uses it for <run_id>_metrics.jsonl. The suffix
// is the caller's constant, not user input.
func RunFile(logsDir, pipeline, runID, suffix string) (string, error) {
	if err := CheckName(pipeline); err != nil {
		return "", fmt.Errorf("pipeline: %w", err)
	}
	if err := CheckName(runID); err != nil {
		return "", fmt.Errorf("run id: %w", err)
	}
	return filepath.Join(logsDir, pipeline, runID+suffix), nil
}
