package schemas

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func mustValidator(t testing.TB) *Validator {
	t.Helper()
	v, err := DefaultValidator()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []Violation
	}{
		{name: "empty object is valid", doc: `{}`},
		{name: "every field valid", doc: `{"description": "d", "tags": ["a"], "enabled": true, "cpu_hard_limit": 2, "cpu_soft_limit": 1.5,
			"mem_hard_limit": "1g", "mem_soft_limit": 536870912, "timeout": 60, "retry_attempts": 3, "retry_delay": 10,
			"default_env": {"LOG_LEVEL": "INFO"}, "schedule": "0 0 * * * *", "schedules": ["@daily", {"cron": "0 5 * * 1", "timezone": "Europe/Berlin", "name": "m"}, {"every": "1h30m"}],
			"timezone": "America/New_York", "catchup": "none", "concurrency_policy": "Allow", "secrets": ["API_TOKEN"],
			"parameters": {"N": {"type": "integer", "default": 3, "enum": [1, 3], "description": "n", "required": true}}}`},
		{name: "syntax error has line and column", doc: "{\n  \"timeout\": 60,\n}",
			want: []Violation{{Message: "invalid JSON at line 3, column 1: invalid character '}' looking for beginning of object key string"}}},
		{name: "truncated document", doc: "{\n  \"timeout\": ",
			want: []Violation{{Message: "invalid JSON at line 2, column 14: unexpected end of input"}}},
		{name: "trailing content", doc: "{}\n{}",
			want: []Violation{{Message: "invalid JSON at line 2, column 1: unexpected content after the top-level value"}}},
		{name: "not utf-8", doc: "{\"description\": \"caf\xe9\"}",
			want: []Violation{{Message: "not valid UTF-8 (first bad byte at line 1, column 21)"}}},
		{name: "not an object", doc: `[]`,
			want: []Violation{{Message: "expected object, but got array"}}},
		{name: "unknown field with hint", doc: `{"timout": 60}`,
			want: []Violation{{Pointer: "/timout", Message: `unknown field "timout" (did you mean "timeout"?)`}}},
		{name: "unknown field without hint", doc: `{"colour": "red"}`,
			want: []Violation{{Pointer: "/colour", Message: `unknown field "colour"`}}},
		{name: "unknown nested field", doc: `{"schedule": {"cron": "@daily", "tz": "UTC"}}`,
			want: []Violation{{Pointer: "/schedule/tz", Message: `unknown field "tz"`}}},
		{name: "wrong type", doc: `{"timeout": "60"}`,
			want: []Violation{{Pointer: "/timeout", Message: "expected integer, but got string"}}},
		{name: "timeout below one", doc: `{"timeout": 0}`,
			want: []Violation{{Pointer: "/timeout", Message: "must be at least 1, but is 0"}}},
		{name: "retry attempts above 100", doc: `{"retry_attempts": 101}`,
			want: []Violation{{Pointer: "/retry_attempts", Message: "must be at most 100, but is 101"}}},
		{name: "cpu limit zero", doc: `{"cpu_hard_limit": 0}`,
			want: []Violation{{Pointer: "/cpu_hard_limit", Message: "must be greater than 0, but is 0"}}},
		{name: "bad memory string", doc: `{"mem_hard_limit": "lots"}`,
			want: []Violation{{Pointer: "/mem_hard_limit", Message: `not a memory size: use a number of bytes or a number with a unit, e.g. "512m", "1g", "1.5g", "64k"`}}},
		{name: "fractional memory number", doc: `{"mem_hard_limit": 1.5}`,
			want: []Violation{{Pointer: "/mem_hard_limit", Message: "expected integer or string, but got number"}}},
		{name: "bad env var name", doc: `{"default_env": {"1X": "a"}}`,
			want: []Violation{{Pointer: "/default_env/1X", Message: `invalid name "1X": must be a valid environment variable name: letters, digits and "_", not starting with a digit`}}},
		{name: "bad secret name", doc: `{"secrets": ["API-TOKEN"]}`,
			want: []Violation{{Pointer: "/secrets/0", Message: `must be a valid environment variable name: letters, digits and "_", not starting with a digit`}}},
		{name: "bad catchup", doc: `{"catchup": "sometimes"}`,
			want: []Violation{{Pointer: "/catchup", Message: `value must be one of "latest", "all", "none"`}}},
		{name: "schedule of wrong type", doc: `{"schedule": 5}`,
			want: []Violation{{Pointer: "/schedule", Message: "expected object or string, but got number"}}},
		{name: "schedule object without cron or every", doc: `{"schedules": [{"name": "x"}]}`,
			want: []Violation{{Pointer: "/schedules/0", Message: `needs one of the fields "cron" or "every"`}}},
		{name: "schedule object with cron and every", doc: `{"schedule": {"cron": "@daily", "every": "1h"}}`,
			want: []Violation{{Pointer: "/schedule", Message: `use either "cron" or "every", not both`}}},
		{name: "every not a duration", doc: `{"schedule": {"every": "soon"}}`,
			want: []Violation{{Pointer: "/schedule/every", Message: `not a duration: use Go syntax such as "90s", "15m" or "1h30m"`}}},
		{name: "every below a second", doc: `{"schedule": {"every": "500ms"}}`,
			want: []Violation{{Pointer: "/schedule/every", Message: "interval 500ms is shorter than the minimum of 1s"}}},
		{name: "cron rejected by gronx", doc: `{"schedule": "61 * * * *"}`,
			want: []Violation{{Pointer: "/schedule", Message: `invalid cron expression "61 * * * *": use 5 fields (minute hour day month weekday), 6 with seconds, or a macro such as @daily`}}},
		{name: "cron in object rejected", doc: `{"schedules": [{"cron": "* * *"}]}`,
			want: []Violation{{Pointer: "/schedules/0/cron", Message: `invalid cron expression "* * *": use 5 fields (minute hour day month weekday), 6 with seconds, or a macro such as @daily`}}},
		{name: "unknown timezone", doc: `{"timezone": "Mars/Olympus"}`,
			want: []Violation{{Pointer: "/timezone", Message: `unknown time zone "Mars/Olympus": use an IANA name such as "Europe/Berlin" or "UTC"`}}},
		{name: "unknown schedule timezone", doc: `{"schedule": {"cron": "@daily", "timezone": "Nowhere"}}`,
			want: []Violation{{Pointer: "/schedule/timezone", Message: `unknown time zone "Nowhere": use an IANA name such as "Europe/Berlin" or "UTC"`}}},
		{name: "timezone on every", doc: `{"schedule": {"every": "1h", "timezone": "UTC"}}`,
			want: []Violation{{Pointer: "/schedule/timezone", Message: `"timezone" applies only to cron schedules, not to "every"`}}},
		{name: "parameter default of wrong type", doc: `{"parameters": {"N": {"type": "integer", "default": "ten"}}}`,
			want: []Violation{{Pointer: "/parameters/N/default", Message: `default "ten" (a string) does not match the parameter's type integer`}}},
		{name: "parameter default fractional for integer", doc: `{"parameters": {"N": {"type": "integer", "default": 1.5}}}`,
			want: []Violation{{Pointer: "/parameters/N/default", Message: `default 1.5 (a number) does not match the parameter's type integer`}}},
		{name: "parameter default outside enum", doc: `{"parameters": {"M": {"type": "string", "enum": ["a", "b"], "default": "c"}}}`,
			want: []Violation{{Pointer: "/parameters/M/default", Message: `default "c" (a string) is not one of the enum values`}}},
		{name: "parameter enum of wrong type", doc: `{"parameters": {"M": {"type": "boolean", "enum": [true, "no"]}}}`,
			want: []Violation{{Pointer: "/parameters/M/enum/1", Message: `enum value "no" (a string) is not of the parameter's type boolean`}}},
		{name: "parameter without type", doc: `{"parameters": {"M": {"default": 1}}}`,
			want: []Violation{{Pointer: "/parameters/M", Message: `missing required field "type"`}}},
		{name: "parameter of unknown type", doc: `{"parameters": {"M": {"type": "float"}}}`,
			want: []Violation{{Pointer: "/parameters/M/type", Message: `value must be one of "string", "integer", "number", "boolean"`}}},
		{name: "mem soft above hard", doc: `{"mem_hard_limit": "512m", "mem_soft_limit": "1g"}`,
			want: []Violation{{Pointer: "/mem_soft_limit", Message: "mem_soft_limit (1 GiB) is above mem_hard_limit (512 MiB)"}}},
		{name: "mem hard below docker minimum", doc: `{"mem_hard_limit": "1m"}`,
			want: []Violation{{Pointer: "/mem_hard_limit", Message: "is 1 MiB; Docker needs at least 6 MiB"}}},
		{name: "cpu soft above hard", doc: `{"cpu_hard_limit": 1, "cpu_soft_limit": 2}`,
			want: []Violation{{Pointer: "/cpu_soft_limit", Message: "cpu_soft_limit (2) is above cpu_hard_limit (1)"}}},
		{name: "duplicate tags", doc: `{"tags": ["a", "a"]}`,
			want: []Violation{{Pointer: "/tags", Message: "duplicate entries: items at index 0 and 1 are equal"}}},
		{name: "several problems sorted by pointer", doc: `{"timout": 1, "catchup": "x", "enabled": "yes"}`,
			want: []Violation{
				{Pointer: "/catchup", Message: `value must be one of "latest", "all", "none"`},
				{Pointer: "/enabled", Message: "expected boolean, but got string"},
				{Pointer: "/timout", Message: `unknown field "timout" (did you mean "timeout"?)`},
			}},
	}
	v := mustValidator(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, got := v.Check([]byte(tt.doc))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Check(%s) (-want +got):\n%s", tt.doc, diff)
			}
		})
	}
}

func TestCheckReturnsSpec(t *testing.T) {
	spec, vs := mustValidator(t).Check([]byte(`{"mem_hard_limit": "1.5g", "retry_attempts": 0, "parameters": {"D": {"type": "boolean", "default": false}}}`))
	if len(vs) != 0 {
		t.Fatal(vs)
	}
	zero := 0
	want := Spec{MemHardLimit: 3 << 29, RetryAttempts: &zero, Parameters: map[string]Parameter{"D": {Type: ParamBoolean, Default: false}}}
	if diff := cmp.Diff(want, spec); diff != "" {
		t.Errorf("spec (-want +got):\n%s", diff)
	}
}

func TestLineCol(t *testing.T) {
	data := []byte("ab\nçd\nef")
	tests := []struct{ off, line, col int }{{0, 1, 1}, {2, 1, 3}, {3, 2, 1}, {5, 2, 2}, {8, 3, 2}, {99, 3, 3}}
	for _, tt := range tests {
		if l, c := lineCol(data, tt.off); l != tt.line || c != tt.col {
			t.Errorf("lineCol(%d) = %d:%d, want %d:%d", tt.off, l, c, tt.line, tt.col)
		}
	}
}

func TestSchemaJSONIsACopy(t *testing.T) {
	b := SchemaJSON()
	b[0] = 'x'
	if !strings.HasPrefix(string(SchemaJSON()), "{") {
		t.Error("SchemaJSON exposes the embedded bytes")
	}
}

func BenchmarkCheck(b *testing.B) {
	v := mustValidator(b)
	doc := []byte(`{"description": "d", "tags": ["a"], "schedule": "*/5 * * * *", "mem_hard_limit": "1g", "parameters": {"N": {"type": "integer", "default": 3}}}`)
	for b.Loop() {
		if _, vs := v.Check(doc); len(vs) != 0 {
			b.Fatal(vs)
		}
	}
}
