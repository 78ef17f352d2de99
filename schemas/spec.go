package schemas

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Catchup says what the scheduler does with fires missed while Fast-Flow was down.
type Catchup string

// The catchup policies; CatchupLatest is the default.
const (
	CatchupLatest Catchup = "latest"
	CatchupAll    Catchup = "all"
	CatchupNone   Catchup = "none"
)

// ConcurrencyPolicy says what a scheduled fire does while the previous run still goes.
type ConcurrencyPolicy string

// The concurrency policies; ConcurrencyForbid is the default.
const (
	ConcurrencyForbid  ConcurrencyPolicy = "Forbid"
	ConcurrencyAllow   ConcurrencyPolicy = "Allow"
	ConcurrencyReplace ConcurrencyPolicy = "Replace"
)

// Spec is the decoded pipeline.json. It mirrors pipeline.schema.json field by field (a test
// keeps the two in step).
//
// Defaults: the zero value of a field means "not set". Fields whose zero value is a
// meaningful setting are pointers (Enabled, RetryAttempts, RetryDelay). Read the effective
// value through the accessor methods (IsEnabled, CatchupPolicy, Concurrency, Location,
// AllSchedules), which apply the defaults of DESIGN.md, rather than the raw fields.
type Spec struct {
	Description  string     `json:"description,omitempty"`
	Tags         []string   `json:"tags,omitempty"`
	Enabled      *bool      `json:"enabled,omitempty"`
	CPUHardLimit float64    `json:"cpu_hard_limit,omitempty"`
	CPUSoftLimit float64    `json:"cpu_soft_limit,omitempty"`
	MemHardLimit MemorySize `json:"mem_hard_limit,omitempty"`
	MemSoftLimit MemorySize `json:"mem_soft_limit,omitempty"`
	Timeout      int        `json:"timeout,omitempty"`
	// StallTimeout is seconds without output; 0 turns the check off for
	// this pipeline, nil leaves STALL_TIMEOUT.
	StallTimeout  *int              `json:"stall_timeout,omitempty"`
	RetryAttempts *int              `json:"retry_attempts,omitempty"`
	RetryDelay    *int              `json:"retry_delay,omitempty"`
	DefaultEnv    map[string]string `json:"default_env,omitempty"`
	// AllowedEnv names reserved env names a run request may set (see
	// operator's env rules).
	AllowedEnv        []string             `json:"allowed_env,omitempty"`
	Schedule          *Schedule            `json:"schedule,omitempty"`
	Schedules         []Schedule           `json:"schedules,omitempty"`
	Timezone          string               `json:"timezone,omitempty"`
	Catchup           Catchup              `json:"catchup,omitempty"`
	ConcurrencyPolicy ConcurrencyPolicy    `json:"concurrency_policy,omitempty"`
	Secrets           []string             `json:"secrets,omitempty"`
	Parameters        map[string]Parameter `json:"parameters,omitempty"`
	// Retention overrides LOG_RETENTION_RUNS and LOG_RETENTION_DAYS for
	// this pipeline; nil leaves them.
	Retention *Retention `json:"retention,omitempty"`
	// Notify lists who is told when a run ends.
	Notify []NotifyTarget `json:"notify,omitempty"`
}

// NotifyEvent is an outcome a notify target can ask for.
type NotifyEvent string

// The notify events. EventFailure covers every run that ended without
// success and was not cancelled, after its last retry; EventTimeout only
// those that timed out; EventRecovery a success whose previous outcome
// was a failure.
const (
	EventFailure  NotifyEvent = "failure"
	EventRecovery NotifyEvent = "recovery"
	EventSuccess  NotifyEvent = "success"
	EventTimeout  NotifyEvent = "timeout"
)

// NotifyFormat is the body a notify target receives.
type NotifyFormat string

// The notify formats; FormatSlack is the default.
const (
	FormatSlack NotifyFormat = "slack"
	FormatJSON  NotifyFormat = "json"
)

// NotifyTarget is one item of "notify": a webhook whose URL is the value
// of a stored secret, so the URL (which is itself a credential for Slack
// and most chat tools) never sits in the repository.
type NotifyTarget struct {
	Secret        string        `json:"secret"`
	On            []NotifyEvent `json:"on,omitempty"`
	Format        NotifyFormat  `json:"format,omitempty"`
	SigningSecret string        `json:"signing_secret,omitempty"`
}

// Events returns the events the target asked for, failure and recovery
// when it named none.
func (t NotifyTarget) Events() []NotifyEvent {
	if len(t.On) == 0 {
		return []NotifyEvent{EventFailure, EventRecovery}
	}
	return t.On
}

// BodyFormat returns the target's format, FormatSlack when unset.
func (t NotifyTarget) BodyFormat() NotifyFormat {
	if t.Format == "" {
		return FormatSlack
	}
	return t.Format
}

// Retention is the optional "retention" object of pipeline.json. A nil
// field leaves the installation's setting; 0 turns that rule off.
type Retention struct {
	// Runs keeps the files of this many newest runs.
	Runs *int `json:"runs,omitempty"`
	// Days removes the files of runs queued more than this many days ago.
	Days *int `json:"days,omitempty"`
}

// IsEnabled reports whether schedules fire and manual runs are accepted (default true).
func (s Spec) IsEnabled() bool { return s.Enabled == nil || *s.Enabled }

// CatchupPolicy returns the catchup policy, CatchupLatest when unset.
func (s Spec) CatchupPolicy() Catchup {
	if s.Catchup == "" {
		return CatchupLatest
	}
	return s.Catchup
}

// Concurrency returns the concurrency policy, ConcurrencyForbid when unset.
func (s Spec) Concurrency() ConcurrencyPolicy {
	if s.ConcurrencyPolicy == "" {
		return ConcurrencyForbid
	}
	return s.ConcurrencyPolicy
}

// Location returns the pipeline's default time zone, UTC when unset or unknown (an unknown
// zone is a validation problem, so a valid Spec never falls back silently).
func (s Spec) Location() *time.Location {
	return loadLocation(s.Timezone)
}

// AllSchedules returns schedule followed by schedules, each with its time zone filled in
// from the pipeline's timezone where it named none (cron schedules only).
func (s Spec) AllSchedules() []Schedule {
	var out []Schedule
	if s.Schedule != nil {
		out = append(out, *s.Schedule)
	}
	out = append(out, s.Schedules...)
	for i := range out {
		if out[i].Cron != "" && out[i].Timezone == "" {
			out[i].Timezone = s.Timezone
		}
	}
	return out
}

func loadLocation(name string) *time.Location {
	if name == "" {
		return time.UTC
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return time.UTC
	}
	return loc
}

// Schedule is one entry of schedule/schedules: either a cron expression with an optional
// time zone, or a fixed interval (Every, a Go duration).
type Schedule struct {
	Name     string `json:"name,omitempty"`
	Cron     string `json:"cron,omitempty"`
	Timezone string `json:"timezone,omitempty"`
	Every    string `json:"every,omitempty"`
	// Short records that the schedule was written as a bare cron string, so that problems
	// point at the string itself rather than at a "cron" member that does not exist.
	Short bool `json:"-"`
}

// UnmarshalJSON accepts a bare cron string or the object form.
func (s *Schedule) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var c string
		if err := json.Unmarshal(b, &c); err != nil {
			return fmt.Errorf("schedule: %w", err)
		}
		*s = Schedule{Cron: c, Short: true}
		return nil
	}
	type plain Schedule
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return fmt.Errorf("schedule: %w", err)
	}
	*s = Schedule(p)
	return nil
}

// Interval returns Every as a duration, 0 when the schedule is a cron schedule or Every
// does not parse (a validation problem).
func (s Schedule) Interval() time.Duration {
	if s.Every == "" {
		return 0
	}
	d, err := time.ParseDuration(s.Every)
	if err != nil {
		return 0
	}
	return d
}

// Location returns the schedule's own time zone, UTC when unset or unknown.
func (s Schedule) Location() *time.Location { return loadLocation(s.Timezone) }

// ParamType is the declared type of a run parameter.
type ParamType string

// The parameter types.
const (
	ParamString  ParamType = "string"
	ParamInteger ParamType = "integer"
	ParamNumber  ParamType = "number"
	ParamBoolean ParamType = "boolean"
)

// Parameter declares one run parameter. Default and Enum hold JSON values as decoded by
// encoding/json (string, float64 or bool); nil Default means no default.
type Parameter struct {
	Type        ParamType `json:"type"`
	Default     any       `json:"default,omitempty"`
	Description string    `json:"description,omitempty"`
	Enum        []any     `json:"enum,omitempty"`
	Required    bool      `json:"required,omitempty"`
}

// Accepts reports whether v, a JSON value as decoded by encoding/json, is of the
// parameter's type and, when the parameter has an enum, one of its values.
func (p Parameter) Accepts(v any) bool {
	if !typeMatches(p.Type, v) {
		return false
	}
	if len(p.Enum) == 0 {
		return true
	}
	for _, e := range p.Enum {
		if jsonEqual(e, v) {
			return true
		}
	}
	return false
}

// ParseValue converts a run parameter given as text (a form field, --param k=v) into a
// value of the parameter's type and checks it against Accepts.
func (p Parameter) ParseValue(text string) (any, error) {
	var v any
	switch p.Type {
	case ParamString:
		v = text
	case ParamInteger:
		n, err := strconv.ParseInt(strings.TrimSpace(text), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("parse %q as integer: %w", text, err)
		}
		v = n
	case ParamNumber:
		f, err := strconv.ParseFloat(strings.TrimSpace(text), 64)
		if err != nil {
			return nil, fmt.Errorf("parse %q as number: %w", text, err)
		}
		v = f
	case ParamBoolean:
		b, err := strconv.ParseBool(strings.TrimSpace(text))
		if err != nil {
			return nil, fmt.Errorf("parse %q as boolean: %w", text, err)
		}
		v = b
	default:
		return nil, fmt.Errorf("parameter type %q: %w", p.Type, ErrUnknownType)
	}
	if !p.Accepts(v) {
		return nil, fmt.Errorf("value %q: %w", text, ErrNotInEnum)
	}
	return v, nil
}

func typeMatches(t ParamType, v any) bool {
	switch t {
	case ParamString:
		_, ok := v.(string)
		return ok
	case ParamBoolean:
		_, ok := v.(bool)
		return ok
	case ParamNumber:
		_, ok := toFloat(v)
		return ok
	case ParamInteger:
		if _, ok := toInt(v); ok {
			return true
		}
		f, ok := toFloat(v)
		return ok && f == math.Trunc(f) && !math.IsInf(f, 0)
	}
	return false
}

// toInt reads v as an exact integer: above 2^53 a float64 no longer holds
// every integer, so integers travel as int64 or json.Number.
func toInt(v any) (int64, bool) {
	switch n := v.(type) {
	case int64:
		return n, true
	case int:
		return int64(n), true
	case json.Number:
		i, err := strconv.ParseInt(string(n), 10, 64)
		return i, err == nil
	case float64:
		if n == math.Trunc(n) && math.Abs(n) < 1<<53 {
			return int64(n), true
		}
	}
	return 0, false
}

func toFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	}
	return 0, false
}

func jsonEqual(a, b any) bool {
	if ia, ok := toInt(a); ok {
		if ib, ok := toInt(b); ok {
			return ia == ib
		}
	}
	fa, aNum := toFloat(a)
	fb, bNum := toFloat(b)
	if aNum || bNum {
		return aNum && bNum && fa == fb
	}
	return a == b
}

// MemorySize is a number of bytes, read from JSON as a plain number or a Docker size string
// ("512m", "1g", "1.5g", "64k", "1048576"). It is written back as a plain number of bytes.
// Zero means unset.
type MemorySize int64

// UnmarshalJSON accepts a JSON number or string.
func (m *MemorySize) UnmarshalJSON(b []byte) error {
	var v any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return fmt.Errorf("memory size: %w", err)
	}
	n, err := ParseMemory(v)
	if err != nil {
		return err
	}
	*m = MemorySize(n)
	return nil
}

// String formats the size the way the UI shows it, e.g. "64 MiB".
func (m MemorySize) String() string {
	const unit = 1024
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	f := float64(m)
	i := 0
	for f >= unit && i < len(units)-1 {
		f /= unit
		i++
	}
	if f == math.Trunc(f) {
		return fmt.Sprintf("%d %s", int64(f), units[i])
	}
	return fmt.Sprintf("%.1f %s", f, units[i])
}

// ParseMemory converts a memory size as it may appear in pipeline.json into bytes. It
// accepts integers (int, int64, float64 without fraction, json.Number) and strings in the
// forms Docker accepts: a number with an optional fraction, an optional space, and an
// optional unit k, m, g or t (powers of 1024, case-insensitive, optionally followed by "i"
// and/or "b"), or a plain number of bytes.
func ParseMemory(v any) (int64, error) {
	switch n := v.(type) {
	case int:
		return checkBytes(float64(n), fmt.Sprint(n))
	case int64:
		return checkBytes(float64(n), fmt.Sprint(n))
	case float64:
		if n != math.Trunc(n) {
			return 0, fmt.Errorf("memory size %v: %w", n, ErrBadMemory)
		}
		return checkBytes(n, fmt.Sprint(n))
	case json.Number:
		i, err := n.Int64()
		if err != nil {
			return 0, fmt.Errorf("memory size %s: %w", n, ErrBadMemory)
		}
		return checkBytes(float64(i), n.String())
	case string:
		return parseMemoryString(n)
	}
	return 0, fmt.Errorf("memory size of type %T: %w", v, ErrBadMemory)
}

func checkBytes(f float64, text string) (int64, error) {
	if f < 0 || f > math.MaxInt64/2 {
		return 0, fmt.Errorf("memory size %s: %w", text, ErrBadMemory)
	}
	return int64(f), nil
}

func parseMemoryString(s string) (int64, error) {
	bad := fmt.Errorf("memory size %q: %w", s, ErrBadMemory)
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		i++
	}
	num, unit := s[:i], strings.ToLower(s[i:])
	// Mirrors the schema's pattern: digits, optional fraction, optional space, optional
	// k/m/g/t with optional "i", optional "b".
	if num == "" || strings.Count(num, ".") > 1 || num[0] == '.' || num[len(num)-1] == '.' {
		return 0, bad
	}
	mult := 1.0
	unit = strings.TrimPrefix(unit, " ")
	if unit != "" {
		switch unit[0] {
		case 'k':
			mult = 1 << 10
		case 'm':
			mult = 1 << 20
		case 'g':
			mult = 1 << 30
		case 't':
			mult = 1 << 40
		}
		if mult > 1 {
			unit = strings.TrimPrefix(unit[1:], "i")
		}
	}
	if unit = strings.TrimPrefix(unit, "b"); unit != "" {
		return 0, bad
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, bad
	}
	return checkBytes(math.Floor(f*mult), s)
}
