package operator

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
)

// Bounds of a run request's env. Every name is stored with the run and
// listed with it, so one request must not make every runs page large.
const (
	maxRequestEnv      = 64
	maxRequestEnvBytes = 32 << 10
)

// envName is a portable environment variable name, as pipeline.json's
// env_name.
var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`)

// Reserved env names change how the container's shell, the dynamic loader,
// Python or uv behave rather than what the pipeline computes: set by a run
// request they would run other code, load other libraries or install from
// another index. They are refused unless the pipeline's allowed_env lists
// them. FASTFLOW_* is the wrapper's own and never allowed.
var (
	reservedEnv = []string{
		"PATH", "HOME", "SHELL", "ENV", "BASH_ENV", "IFS", "CDPATH", "TMPDIR",
		"VIRTUAL_ENV", "CONDA_PREFIX", "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE",
		"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy", "no_proxy",
	}
	reservedEnvPrefixes = []string{"LD_", "DYLD_", "PYTHON", "UV_", "PIP_", "GCONV_", "MALLOC_"}
)

// EnvError lists every env name of a run request that breaks a rule, with
// the reason, for a 422 answer.
type EnvError struct {
	Fields map[string]string
}

func (e *EnvError) Error() string {
	msg := "env not accepted:"
	for _, n := range slices.Sorted(maps.Keys(e.Fields)) {
		msg += fmt.Sprintf(" %s: %s;", n, e.Fields[n])
	}
	return strings.TrimSuffix(msg, ";")
}

// checkRequestEnv applies the rules to a run request's env: valid names,
// bounded count and size, no NUL bytes, and reserved names only where
// allowed lists them.
func checkRequestEnv(env map[string]string, allowed []string) error {
	if len(env) == 0 {
		return nil
	}
	fields := map[string]string{}
	if len(env) > maxRequestEnv {
		return &EnvError{Fields: map[string]string{"env": fmt.Sprintf("%d variables; at most %d", len(env), maxRequestEnv)}}
	}
	size := 0
	for name, value := range env {
		size += len(name) + len(value)
		switch {
		case !envName.MatchString(name):
			fields[displayName(name)] = "not a valid name: a letter or underscore, then letters, digits or underscores, at most 128"
		case strings.ContainsRune(value, 0):
			fields[name] = "the value contains a NUL byte"
		case strings.HasPrefix(name, "FASTFLOW_"):
			fields[name] = "reserved for Fast-Flow's own use"
		case reserved(name) && !slices.Contains(allowed, name):
			fields[name] = "changes how the interpreter or uv behaves; list it in pipeline.json's allowed_env to let runs set it"
		}
	}
	if size > maxRequestEnvBytes {
		fields["env"] = fmt.Sprintf("%d bytes of names and values; at most %d", size, maxRequestEnvBytes)
	}
	if len(fields) > 0 {
		return &EnvError{Fields: fields}
	}
	return nil
}

func reserved(name string) bool {
	if slices.Contains(reservedEnv, name) {
		return true
	}
	for _, p := range reservedEnvPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// displayName keeps an invalid name short and printable in an answer.
func displayName(name string) string {
	if len(name) > 64 {
		name = name[:64] + "…"
	}
	return fmt.Sprintf("%q", name)
}
