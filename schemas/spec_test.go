package schemas

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestSchemaMatchesSpec keeps pipeline.schema.json and Spec in step: every property the
// schema declares (top level and nested objects) must have a Go field with that json name,
// and every Go field must be declared by the schema.
func TestSchemaMatchesSpec(t *testing.T) {
	var raw map[string]any
	if err := json.Unmarshal(schemaJSON, &raw); err != nil {
		t.Fatal(err)
	}
	defs, _ := raw["$defs"].(map[string]any)
	checks := []struct {
		name   string
		schema map[string]any
		typ    reflect.Type
	}{
		{"pipeline", raw, reflect.TypeFor[Spec]()},
		{"schedule_object", defs["schedule_object"].(map[string]any), reflect.TypeFor[Schedule]()},
		{"parameter", defs["parameter"].(map[string]any), reflect.TypeFor[Parameter]()},
		{"retention", raw["properties"].(map[string]any)["retention"].(map[string]any), reflect.TypeFor[Retention]()},
		{"notify_target", defs["notify_target"].(map[string]any), reflect.TypeFor[NotifyTarget]()},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if c.schema["additionalProperties"] != false {
				t.Errorf("schema %s allows additional properties", c.name)
			}
			props, _ := c.schema["properties"].(map[string]any)
			var inSchema []string
			for k := range props {
				inSchema = append(inSchema, k)
			}
			slices.Sort(inSchema)
			inGo := jsonFields(c.typ)
			if diff := cmp.Diff(inSchema, inGo); diff != "" {
				t.Errorf("schema properties vs %s json fields (-schema +go):\n%s", c.typ, diff)
			}
		})
	}
	// Every object in the schema, wherever it sits, must refuse unknown properties.
	var walk func(ptr string, node any)
	walk = func(ptr string, node any) {
		switch n := node.(type) {
		case map[string]any:
			if n["type"] == "object" && n["additionalProperties"] == nil {
				t.Errorf("%s: object without additionalProperties", ptr)
			}
			for k, v := range n {
				walk(ptr+"/"+k, v)
			}
		case []any:
			for _, v := range n {
				walk(ptr+"/[]", v)
			}
		}
	}
	walk("", raw)
}

func jsonFields(t reflect.Type) []string {
	var out []string
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

func TestParseMemory(t *testing.T) {
	tests := []struct {
		in   any
		want int64
		bad  bool
	}{
		{in: "512m", want: 512 << 20},
		{in: "1g", want: 1 << 30},
		{in: "1.5g", want: 3 << 29},
		{in: "64k", want: 64 << 10},
		{in: "64K", want: 64 << 10},
		{in: "1GiB", want: 1 << 30},
		{in: "512MB", want: 512 << 20},
		{in: "512 m", want: 512 << 20},
		{in: "100b", want: 100},
		{in: "1048576", want: 1 << 20},
		{in: 1048576, want: 1 << 20},
		{in: float64(4096), want: 4096},
		{in: json.Number("2048"), want: 2048},
		{in: "2t", want: 2 << 40},
		{in: "", bad: true},
		{in: "m", bad: true},
		{in: "1x", bad: true},
		{in: "1ib", bad: true},
		{in: "1.g", bad: true},
		{in: ".5g", bad: true},
		{in: "1.2.3g", bad: true},
		{in: "-1m", bad: true},
		{in: "1 ", want: 1},
		{in: float64(1.5), bad: true},
		{in: -5, bad: true},
		{in: true, bad: true},
	}
	for _, tt := range tests {
		got, err := ParseMemory(tt.in)
		if tt.bad {
			if !errors.Is(err, ErrBadMemory) {
				t.Errorf("ParseMemory(%#v) = %d, %v; want ErrBadMemory", tt.in, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseMemory(%#v) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}

// TestMemoryPatternMatchesParser proves the schema's pattern and ParseMemory agree, so a
// size the schema accepts never fails to decode.
func TestMemoryPatternMatchesParser(t *testing.T) {
	v := mustValidator(t)
	for _, s := range []string{"512m", "1.5g", "64k", "1GiB", "512 MB", "100b", "7", "1x", "1ib", ".5g", "1 ", "m", "1.g"} {
		doc := map[string]any{"mem_soft_limit": s}
		schemaOK := len(v.Validate(doc)) == 0
		_, err := ParseMemory(s)
		if schemaOK != (err == nil) {
			t.Errorf("%q: schema accepts=%v, ParseMemory err=%v", s, schemaOK, err)
		}
	}
}

func TestScheduleUnmarshal(t *testing.T) {
	tests := []struct {
		in   string
		want Schedule
	}{
		{`"@daily"`, Schedule{Cron: "@daily", Short: true}},
		{`{"cron": "0 5 * * *", "timezone": "Europe/Berlin", "name": "morning"}`, Schedule{Cron: "0 5 * * *", Timezone: "Europe/Berlin", Name: "morning"}},
		{`{"every": "15m"}`, Schedule{Every: "15m"}},
	}
	for _, tt := range tests {
		var got Schedule
		if err := json.Unmarshal([]byte(tt.in), &got); err != nil {
			t.Fatalf("%s: %v", tt.in, err)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.in, diff)
		}
	}
}

func TestSpecDefaults(t *testing.T) {
	var zero Spec
	if !zero.IsEnabled() || zero.CatchupPolicy() != CatchupLatest || zero.Concurrency() != ConcurrencyForbid || zero.Location().String() != "UTC" {
		t.Errorf("zero Spec defaults: enabled=%v catchup=%s concurrency=%s tz=%s", zero.IsEnabled(), zero.CatchupPolicy(), zero.Concurrency(), zero.Location())
	}
	spec, vs := mustValidator(t).Check([]byte(`{"enabled": false, "timezone": "Europe/Berlin", "schedule": "@hourly",
		"schedules": [{"cron": "0 1 * * *", "timezone": "Asia/Tokyo"}, {"every": "90s"}], "catchup": "all", "concurrency_policy": "Replace"}`))
	if len(vs) != 0 {
		t.Fatal(vs)
	}
	if spec.IsEnabled() || spec.CatchupPolicy() != CatchupAll || spec.Concurrency() != ConcurrencyReplace {
		t.Errorf("explicit settings lost: %+v", spec)
	}
	want := []Schedule{
		{Cron: "@hourly", Timezone: "Europe/Berlin", Short: true},
		{Cron: "0 1 * * *", Timezone: "Asia/Tokyo"},
		{Every: "90s"},
	}
	if diff := cmp.Diff(want, spec.AllSchedules()); diff != "" {
		t.Errorf("AllSchedules (-want +got):\n%s", diff)
	}
	if got := spec.AllSchedules()[2].Interval().Seconds(); got != 90 {
		t.Errorf("Interval = %vs, want 90s", got)
	}
}

func TestParameterParseValue(t *testing.T) {
	tests := []struct {
		p    Parameter
		in   string
		want any
		bad  bool
	}{
		{p: Parameter{Type: ParamInteger}, in: "42", want: int64(42)},
		// Above 2^53 every digit stays: a float64 would round it.
		{p: Parameter{Type: ParamInteger}, in: "9007199254740993", want: int64(9007199254740993)},
		{p: Parameter{Type: ParamInteger}, in: "4.2", bad: true},
		{p: Parameter{Type: ParamNumber}, in: "4.2", want: 4.2},
		{p: Parameter{Type: ParamBoolean}, in: "true", want: true},
		{p: Parameter{Type: ParamBoolean}, in: "yes", bad: true},
		{p: Parameter{Type: ParamString, Enum: []any{"full", "delta"}}, in: "delta", want: "delta"},
		{p: Parameter{Type: ParamString, Enum: []any{"full", "delta"}}, in: "other", bad: true},
		{p: Parameter{Type: ParamInteger, Enum: []any{float64(1), float64(2)}}, in: "2", want: int64(2)},
	}
	for _, tt := range tests {
		got, err := tt.p.ParseValue(tt.in)
		if (err != nil) != tt.bad || (!tt.bad && got != tt.want) {
			t.Errorf("%+v.ParseValue(%q) = %v, %v; want %v (error: %v)", tt.p, tt.in, got, err, tt.want, tt.bad)
		}
	}
}
