package operator

import (
	"path"
	"strconv"
	"strings"
	"time"
)

// markerPrefix starts the lines the wrapper writes for the operator. They
// are parsed and kept out of the run's log.
const markerPrefix = "::fastflow::"

// wrapperScript runs inside the worker image around uv. It reports uv's
// version, and, when the pipeline has requirements, prepares the
// environment first and times it, so setup_duration is uv's own work and
// not the pipeline's. The real run then finds the environment cached. It
// needs only POSIX sh and date, which both the real uv image and the local
// worker image have.
const wrapperScript = `set -u
v=$(uv --version 2>&1) || { echo "$v" >&2; exit 127; }
echo "::fastflow::uv_version=$v"
if [ -n "$FASTFLOW_REQUIREMENTS" ]; then
  s=$(date +%s%N)
  if ! out=$(uv run --with-requirements "$FASTFLOW_REQUIREMENTS" python -c pass 2>&1); then
    echo "::fastflow::setup_failed=$(printf '%s' "$out" | tail -n 1)"
    printf '%s\n' "$out" >&2
    exit 2
  fi
  e=$(date +%s%N)
  echo "::fastflow::setup_ns=$((e - s))"
  echo "::fastflow::start"
  exec uv run --with-requirements "$FASTFLOW_REQUIREMENTS" "$FASTFLOW_MAIN"
fi
echo "::fastflow::start"
exec uv run "$FASTFLOW_MAIN"
`

// runCommand returns the container command and the env it needs for the
// pipeline mounted at /app/<name>.
func runCommand(name string, hasRequirements bool) ([]string, map[string]string) {
	dir := path.Join("/app", name)
	env := map[string]string{"FASTFLOW_MAIN": path.Join(dir, "main.py"), "FASTFLOW_REQUIREMENTS": ""}
	if hasRequirements {
		env["FASTFLOW_REQUIREMENTS"] = path.Join(dir, "requirements.txt")
	}
	return []string{"sh", "-c", wrapperScript}, env
}

// markers collects what the wrapper reported. The wrapper's last marker,
// "start", comes right before the pipeline itself runs: from then on every
// line is the pipeline's, even one that looks like a marker.
type markers struct {
	uvVersion   string
	setup       time.Duration
	setupFailed string
	started     bool
}

// parseMarker consumes a marker line on stdout and reports whether it was
// one. Markers and uv's own stderr may interleave in any order (Docker
// timestamps each stream on its own), so the preamble ends only at "start".
func (m *markers) parseMarker(text string) bool {
	if m.started {
		return false
	}
	rest, ok := strings.CutPrefix(text, markerPrefix)
	if !ok {
		return false
	}
	key, value, _ := strings.Cut(rest, "=")
	switch key {
	case "uv_version":
		m.uvVersion = value
	case "setup_ns":
		if ns, err := strconv.ParseInt(value, 10, 64); err == nil {
			m.setup = time.Duration(ns)
		}
	case "setup_failed":
		m.setupFailed = value
	case "start":
		m.started = true
	}
	return true
}
