package schemas

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v5"
)

//go:embed pipeline.schema.json
var schemaJSON []byte

// schemaURL is the schema's $id; the compiler needs a URL to name the resource.
const schemaURL = "https://fastflow.dev/schemas/pipeline.schema.json"

// Sentinel errors.
var (
	ErrBadMemory   = errors.New("schemas: not a memory size")
	ErrUnknownType = errors.New("schemas: unknown parameter type")
	ErrNotInEnum   = errors.New("schemas: value not allowed by the parameter")
)

// SchemaJSON returns a copy of the embedded pipeline.schema.json, e.g. for serving it to
// editors.
func SchemaJSON() []byte { return bytes.Clone(schemaJSON) }

// Violation is one finding about a pipeline.json document.
type Violation struct {
	Pointer string `json:"pointer"` // RFC 6901 pointer into the document, "" for the whole document
	Message string `json:"message"`
}

// Validator checks pipeline.json documents against the embedded schema. It is immutable
// after construction and safe for concurrent use.
type Validator struct {
	schema *jsonschema.Schema
	raw    map[string]any // the schema as plain JSON, to look up known property names
}

// NewValidator compiles the embedded schema.
func NewValidator() (*Validator, error) {
	c := jsonschema.NewCompiler()
	c.Draft = jsonschema.Draft2020
	if err := c.AddResource(schemaURL, bytes.NewReader(schemaJSON)); err != nil {
		return nil, fmt.Errorf("add schema resource: %w", err)
	}
	s, err := c.Compile(schemaURL)
	if err != nil {
		return nil, fmt.Errorf("compile schema: %w", err)
	}
	var raw map[string]any
	if err := json.Unmarshal(schemaJSON, &raw); err != nil {
		return nil, fmt.Errorf("decode schema: %w", err)
	}
	return &Validator{schema: s, raw: raw}, nil
}

// defaultValidator compiles the schema once per process; the result is never modified.
var defaultValidator = sync.OnceValues(NewValidator)

// DefaultValidator returns the process-wide Validator, compiling the schema on first use.
func DefaultValidator() (*Validator, error) { return defaultValidator() }

// Check decodes and validates one pipeline.json document: JSON syntax (reported with line
// and column), the schema, then, once the schema is satisfied, the semantic rules of
// Spec.Validate. The Spec is usable only when no violations are returned. Violations are
// sorted by pointer.
func (v *Validator) Check(data []byte) (Spec, []Violation) {
	if !utf8.Valid(data) {
		line, col := lineCol(data, invalidUTF8Offset(data))
		return Spec{}, []Violation{{Message: fmt.Sprintf("not valid UTF-8 (first bad byte at line %d, column %d)", line, col)}}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return Spec{}, []Violation{syntaxViolation(data, err)}
	}
	if off := int(dec.InputOffset()); len(bytes.TrimSpace(data[off:])) > 0 {
		rest := off + (len(data[off:]) - len(bytes.TrimLeft(data[off:], " \t\r\n")))
		line, col := lineCol(data, rest)
		return Spec{}, []Violation{{Message: fmt.Sprintf("invalid JSON at line %d, column %d: unexpected content after the top-level value", line, col)}}
	}
	out := v.Validate(doc)
	var spec Spec
	if err := json.Unmarshal(data, &spec); err != nil {
		if len(out) == 0 {
			// The schema should have caught this; report it rather than hide it.
			out = append(out, Violation{Message: err.Error()})
		}
		sortViolations(out)
		return Spec{}, out
	}
	if len(out) > 0 {
		// Semantic rules assume a schema-valid document; run on a broken one they would
		// repeat or contradict the schema's findings.
		return Spec{}, out
	}
	out = spec.Validate()
	sortViolations(out)
	if len(out) > 0 {
		return Spec{}, out
	}
	return spec, nil
}

// Validate checks a decoded document (from encoding/json, preferably with UseNumber) against
// the schema and returns the leaf violations in words a user understands.
func (v *Validator) Validate(doc any) []Violation {
	err := v.schema.Validate(doc)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return []Violation{{Message: err.Error()}}
	}
	var out []Violation
	v.flatten(ve, &out)
	sortViolations(out)
	return slices.Compact(out)
}

func sortViolations(vs []Violation) {
	sort.SliceStable(vs, func(i, j int) bool {
		if vs[i].Pointer != vs[j].Pointer {
			return vs[i].Pointer < vs[j].Pointer
		}
		return vs[i].Message < vs[j].Message
	})
}

func syntaxViolation(data []byte, err error) Violation {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		// Offset counts the bytes read including the offending one.
		off := int(se.Offset) - 1
		if off < 0 {
			off = 0
		}
		line, col := lineCol(data, off)
		return Violation{Message: fmt.Sprintf("invalid JSON at line %d, column %d: %s", line, col, se.Error())}
	}
	if errors.Is(err, errUnexpectedEOF(err)) {
		line, col := lineCol(data, len(data))
		return Violation{Message: fmt.Sprintf("invalid JSON at line %d, column %d: unexpected end of input", line, col)}
	}
	return Violation{Message: "invalid JSON: " + err.Error()}
}

// errUnexpectedEOF returns err itself when it is one of the end-of-input errors the decoder
// reports for truncated documents, so the caller can test with errors.Is.
func errUnexpectedEOF(err error) error {
	msg := err.Error()
	if msg == "EOF" || msg == "unexpected EOF" {
		return err
	}
	return nil
}

// lineCol converts a byte offset to a 1-based line and a 1-based column counted in
// characters, the way editors show positions.
func lineCol(data []byte, off int) (int, int) {
	if off > len(data) {
		off = len(data)
	}
	before := data[:off]
	line := bytes.Count(before, []byte{'\n'}) + 1
	start := bytes.LastIndexByte(before, '\n') + 1
	return line, utf8.RuneCount(before[start:]) + 1
}

func invalidUTF8Offset(data []byte) int {
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		i += size
	}
	return len(data)
}

// friendlyPatterns replaces "does not match pattern" for the schema's patterns.
var friendlyPatterns = map[string]string{
	`^[A-Za-z_][A-Za-z0-9_]*$`:                     `must be a valid environment variable name: letters, digits and "_", not starting with a digit`,
	`^[0-9]+(\.[0-9]+)? ?([kKmMgGtT][iI]?)?[bB]?$`: `not a memory size: use a number of bytes or a number with a unit, e.g. "512m", "1g", "1.5g", "64k"`,
	`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`:    `not a duration: use Go syntax such as "90s", "15m" or "1h30m"`,
}

var (
	reAdditional = regexp.MustCompile(`^additionalProperties (.*) not allowed$`)
	reMissing    = regexp.MustCompile(`^missing properties: (.*)$`)
	reType       = regexp.MustCompile(`^expected (.*), but got (.*)$`)
	reBound      = regexp.MustCompile(`^must be (>=|>|<=|<) (\S+) but found (\S+)$`)
	rePattern    = regexp.MustCompile(`^does not match pattern (.*)$`)
	reQuoted     = regexp.MustCompile(`'((?:[^'\\]|\\.)*)'`)
)

func (v *Validator) flatten(ve *jsonschema.ValidationError, out *[]Violation) {
	kw := ve.KeywordLocation[strings.LastIndexByte(ve.KeywordLocation, '/')+1:]
	if len(ve.Causes) == 0 {
		*out = append(*out, v.leaf(ve)...)
		return
	}
	if kw == "anyOf" || kw == "oneOf" {
		v.alternatives(ve, out)
		return
	}
	for _, c := range ve.Causes {
		v.flatten(c, out)
	}
}

// alternatives explains a failed anyOf/oneOf. A branch that failed only because the value
// has another JSON type says nothing useful on its own, so those are merged into one
// "expected A or B" message; otherwise the branches whose type fitted are explained.
func (v *Validator) alternatives(ve *jsonschema.ValidationError, out *[]Violation) {
	var types []string
	var fitting []*jsonschema.ValidationError
	got := ""
	for _, c := range ve.Causes {
		leaves := leavesOf(c)
		mismatch := true
		for _, l := range leaves {
			m := reType.FindStringSubmatch(l.Message)
			if m == nil || l.InstanceLocation != ve.InstanceLocation {
				mismatch = false
				break
			}
			types = append(types, strings.Split(m[1], " or ")...)
			got = m[2]
		}
		if !mismatch {
			fitting = append(fitting, c)
		}
	}
	if len(fitting) == 0 {
		slices.Sort(types)
		types = slices.Compact(types)
		*out = append(*out, Violation{Pointer: ve.InstanceLocation, Message: fmt.Sprintf("expected %s, but got %s", strings.Join(types, " or "), got)})
		return
	}
	if len(fitting) > 1 {
		var missing []string
		all := true
		for _, c := range fitting {
			for _, l := range leavesOf(c) {
				m := reMissing.FindStringSubmatch(l.Message)
				if m == nil {
					all = false
					break
				}
				missing = append(missing, quotedList(m[1])...)
			}
		}
		if all {
			*out = append(*out, Violation{Pointer: ve.InstanceLocation, Message: "needs one of the fields " + joinQuoted(missing, " or ")})
			return
		}
	}
	for _, c := range fitting {
		v.flatten(c, out)
	}
}

func leavesOf(ve *jsonschema.ValidationError) []*jsonschema.ValidationError {
	if len(ve.Causes) == 0 {
		return []*jsonschema.ValidationError{ve}
	}
	var out []*jsonschema.ValidationError
	for _, c := range ve.Causes {
		out = append(out, leavesOf(c)...)
	}
	return out
}

func (v *Validator) leaf(ve *jsonschema.ValidationError) []Violation {
	ptr := ve.InstanceLocation
	msg := ve.Message
	if m := reAdditional.FindStringSubmatch(msg); m != nil {
		known := v.knownProperties(ve.AbsoluteKeywordLocation)
		var out []Violation
		for _, name := range quotedList(m[1]) {
			text := fmt.Sprintf("unknown field %q", name)
			if s := suggest(name, known); s != "" {
				text += fmt.Sprintf(" (did you mean %q?)", s)
			}
			out = append(out, Violation{Pointer: ptr + "/" + escapePointer(name), Message: text})
		}
		return out
	}
	if m := reMissing.FindStringSubmatch(msg); m != nil {
		names := quotedList(m[1])
		word := "field"
		if len(names) > 1 {
			word = "fields"
		}
		return []Violation{{Pointer: ptr, Message: fmt.Sprintf("missing required %s %s", word, joinQuoted(names, ", "))}}
	}
	if m := reBound.FindStringSubmatch(msg); m != nil {
		words := map[string]string{">=": "at least", ">": "greater than", "<=": "at most", "<": "less than"}
		msg = fmt.Sprintf("must be %s %s, but is %s", words[m[1]], m[2], m[3])
	} else if m := rePattern.FindStringSubmatch(msg); m != nil {
		if f, ok := friendlyPatterns[unquote(m[1])]; ok {
			msg = f
		}
	} else if strings.HasPrefix(msg, "valid against schemas at indexes") {
		msg = "matches more than one of the allowed forms"
		if strings.Contains(ve.AbsoluteKeywordLocation, "schedule_object") {
			msg = `use either "cron" or "every", not both`
		}
	} else if strings.HasPrefix(msg, "items at index") {
		msg = "duplicate entries: " + msg
	}
	if strings.Contains(ve.KeywordLocation, "/propertyNames/") {
		name := ptr[strings.LastIndexByte(ptr, '/')+1:]
		msg = fmt.Sprintf("invalid name %q: %s", unescapePointer(name), msg)
	}
	return []Violation{{Pointer: ptr, Message: msg}}
}

// knownProperties returns the property names declared beside the failing
// additionalProperties keyword, for "did you mean" hints.
func (v *Validator) knownProperties(absKeyword string) []string {
	frag := absKeyword[strings.IndexByte(absKeyword, '#')+1:]
	frag = strings.TrimSuffix(frag, "/additionalProperties")
	var node any = v.raw
	for _, tok := range strings.Split(strings.TrimPrefix(frag, "/"), "/") {
		if tok == "" {
			continue
		}
		m, ok := node.(map[string]any)
		if !ok {
			return nil
		}
		node = m[unescapePointer(tok)]
	}
	m, ok := node.(map[string]any)
	if !ok {
		return nil
	}
	props, _ := m["properties"].(map[string]any)
	names := make([]string, 0, len(props))
	for k := range props {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

// suggest returns the known name closest to name when it is a plausible typo.
func suggest(name string, known []string) string {
	best, bestDist := "", 3
	for _, k := range known {
		if d := editDistance(strings.ToLower(name), k); d < bestDist {
			best, bestDist = k, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

func quotedList(s string) []string {
	var out []string
	for _, m := range reQuoted.FindAllStringSubmatch(s, -1) {
		out = append(out, unquote("'"+m[1]+"'"))
	}
	return out
}

// unquote reverses the library's quote(): single quotes around a strconv-quoted body.
func unquote(s string) string {
	if len(s) >= 2 && s[0] == '\'' && s[len(s)-1] == '\'' {
		body := strings.ReplaceAll(s[1:len(s)-1], `\'`, `'`)
		if u, err := strconv.Unquote(`"` + body + `"`); err == nil {
			return u
		}
		return body
	}
	return s
}

func joinQuoted(names []string, sep string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	return strings.Join(q, sep)
}

func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

func unescapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~1", "/"), "~0", "~")
}
