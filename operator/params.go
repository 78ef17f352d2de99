package operator

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"

	"github.com/fastflow-dev/fastflow/schemas"
)

// ParamError lists every run parameter that does not match the pipeline's
// declaration, keyed by parameter name, so a form can show each message
// next to its field. It maps to HTTP 422.
type ParamError struct {
	Fields map[string]string
}

func (e *ParamError) Error() string {
	names := slices.Sorted(maps.Keys(e.Fields))
	msg := "invalid parameters:"
	for _, n := range names {
		msg += fmt.Sprintf(" %s: %s;", n, e.Fields[n])
	}
	return msg[:len(msg)-1]
}

// resolveParams checks the given parameters against the declarations,
// fills in defaults and returns the env form of each value. A value may be
// a JSON value (API body) or text (a form field, --param k=v); text is
// parsed by the declared type.
func resolveParams(decl map[string]schemas.Parameter, given map[string]any) (map[string]string, error) {
	fields := map[string]string{}
	out := make(map[string]string, len(decl))
	for name, v := range given {
		p, ok := decl[name]
		if !ok {
			fields[name] = "not a declared parameter of this pipeline"
			continue
		}
		if text, isText := v.(string); isText && p.Type != schemas.ParamString {
			parsed, err := p.ParseValue(text)
			if err != nil {
				fields[name] = fmt.Sprintf("want %s%s", p.Type, enumHint(p))
				continue
			}
			v = parsed
		}
		if !p.Accepts(v) {
			fields[name] = fmt.Sprintf("want %s%s", p.Type, enumHint(p))
			continue
		}
		out[name] = EnvValue(v)
	}
	for name, p := range decl {
		if _, ok := given[name]; ok {
			continue
		}
		switch {
		case p.Default != nil:
			out[name] = EnvValue(p.Default)
		case p.Required:
			fields[name] = "required"
		}
	}
	if len(fields) > 0 {
		return nil, &ParamError{Fields: fields}
	}
	return out, nil
}

func enumHint(p schemas.Parameter) string {
	if len(p.Enum) == 0 {
		return ""
	}
	s := " (one of"
	for i, e := range p.Enum {
		if i > 0 {
			s += ","
		}
		s += " " + EnvValue(e)
	}
	return s + ")"
}

// EnvValue renders a JSON value the way a pipeline reads it from its env
// (and the run form shows defaults and choices):
// integers without a decimal point, booleans as true/false.
func EnvValue(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1e15 {
			return strconv.FormatInt(int64(x), 10)
		}
		return strconv.FormatFloat(x, 'g', -1, 64)
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case json.Number:
		// Every digit as sent: a float64 would turn 2^53+1 into 9.007e15.
		if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return strconv.FormatInt(i, 10)
		}
		if f, err := x.Float64(); err == nil {
			return EnvValue(f)
		}
		return string(x)
	default:
		return fmt.Sprint(x)
	}
}
