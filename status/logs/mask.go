package logs

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"
)

// MinSecretLen is the shortest secret value (and the shortest multi-line
// secret line) a Masker masks. Shorter values such as "1", "yes" or "dev"
// would turn ordinary output into a field of stars and tell a reader more
// about the secret than they hide; a secret that short is no secret.
const MinSecretLen = 4

// minFragmentLen is the shortest base64 fragment masked for a secret embedded
// at an arbitrary offset of a larger base64 blob. Fragments are shorter than
// the secret's own encoding, and four base64 characters appear by chance in
// any long blob; eight (six secret bytes) rarely do.
const minFragmentLen = 8

// Mask is what replaces a secret in a line.
const Mask = "***"

// Masker replaces secret values, and the forms other tools turn them into,
// by "***". It is immutable after NewMasker and safe for concurrent use; a
// nil *Masker masks nothing.
//
// For each secret of at least MinSecretLen bytes it masks:
//   - the value itself;
//   - standard and URL-safe base64, with and without padding;
//   - the secret inside a larger base64 blob: base64 works in groups of three
//     bytes, so a secret at byte offset o encodes to characters that depend on
//     the neighbouring bytes at its edges; for each of the three alignments
//     the run of characters that depend on the secret alone is masked (when
//     it is at least eight characters long);
//   - url.QueryEscape and url.PathEscape forms;
//   - the JSON string body (without quotes) as Go writes it, with and without
//     HTML escaping, and as Python's json.dumps writes it (non-ASCII as
//     \uXXXX);
//   - each line of a multi-line secret (PEM keys, service account files)
//     that is at least MinSecretLen bytes long.
//
// Overlapping or adjacent matches, of one secret or several, merge into a
// single "***", so no fragment of either is left between them. At each
// position the longest form wins.
type Masker struct {
	// first2 has a bit per two-byte prefix of any pattern: most positions of
	// a line are rejected by one bit test.
	first2 []uint64
	// byFirst holds the patterns by first byte, longest first.
	byFirst [256][]string
	count   int
}

// NewMasker builds a Masker for the given secret values. Values shorter than
// MinSecretLen are ignored.
func NewMasker(secrets []string) *Masker {
	set := make(map[string]struct{})
	for _, s := range secrets {
		if len(s) < MinSecretLen {
			continue
		}
		for _, p := range variants(s) {
			if len(p) >= MinSecretLen {
				set[p] = struct{}{}
			}
		}
	}
	m := &Masker{first2: make([]uint64, 1<<16/64), count: len(set)}
	for p := range set {
		k := uint16(p[0])<<8 | uint16(p[1])
		m.first2[k>>6] |= 1 << (k & 63)
		m.byFirst[p[0]] = append(m.byFirst[p[0]], p)
	}
	for i := range m.byFirst {
		slices.SortFunc(m.byFirst[i], func(a, b string) int {
			return cmp.Or(cmp.Compare(len(b), len(a)), strings.Compare(a, b))
		})
	}
	return m
}

// Patterns returns the number of distinct forms the Masker looks for.
func (m *Masker) Patterns() int {
	if m == nil {
		return 0
	}
	return m.count
}

// Mask returns s with every secret form replaced by "***". It returns s
// itself, without allocating, when nothing matches.
func (m *Masker) Mask(s string) string {
	if m == nil || m.count == 0 {
		return s
	}
	// strings.Builder hands its buffer over without a copy: one allocation
	// per masked line.
	var out strings.Builder
	copied := 0          // s[:copied] is already in out
	start, end := -1, -1 // the masked region being grown
	for i := 0; i+1 < len(s); i++ {
		k := uint16(s[i])<<8 | uint16(s[i+1])
		if m.first2[k>>6]&(1<<(k&63)) == 0 {
			continue
		}
		for _, p := range m.byFirst[s[i]] {
			if len(p) > len(s)-i || s[i:i+len(p)] != p {
				continue
			}
			e := i + len(p)
			if start >= 0 && i <= end {
				end = max(end, e) // overlapping or adjacent: one region
			} else {
				if start >= 0 {
					copied = emit(&out, s, copied, start, end)
				}
				start, end = i, e
			}
			break // longest first: the first hit is the longest here
		}
	}
	if start < 0 {
		return s
	}
	emit(&out, s, copied, start, end)
	out.WriteString(s[end:])
	return out.String()
}

// emit writes s[copied:start] and the mask for s[start:end] to out, and
// returns the new copied offset.
func emit(out *strings.Builder, s string, copied, start, end int) int {
	if out.Cap() == 0 {
		out.Grow(len(s))
	}
	out.WriteString(s[copied:start])
	out.WriteString(Mask)
	return end
}

// variants returns the forms of one secret to mask.
func variants(s string) []string {
	out := []string{s}
	b := []byte(s)
	for _, enc := range []*base64.Encoding{
		base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding,
	} {
		out = append(out, enc.EncodeToString(b))
	}
	// Inside a larger blob, the secret starts at one of three offsets within
	// a three-byte group. Skipping k leading bytes realigns it: the groups
	// made only of secret bytes encode the same wherever the blob starts.
	for k := range 3 {
		full := (len(b) - k) / 3 * 3
		if full <= 0 {
			continue
		}
		for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
			if f := enc.EncodeToString(b[k : k+full]); len(f) >= minFragmentLen {
				out = append(out, f)
			}
		}
	}
	out = append(out, url.QueryEscape(s), url.PathEscape(s))
	out = append(out, jsonBody(s, true), jsonBody(s, false), pythonJSONBody(s))
	if strings.ContainsAny(s, "\r\n") {
		for line := range strings.Lines(s) {
			line = strings.TrimRight(line, "\r\n")
			if len(line) >= MinSecretLen {
				out = append(out, line)
			}
		}
	}
	return out
}

// jsonBody is s as encoding/json writes a string, without the quotes.
func jsonBody(s string, escapeHTML bool) string {
	var sb strings.Builder
	enc := json.NewEncoder(&sb)
	enc.SetEscapeHTML(escapeHTML)
	if err := enc.Encode(s); err != nil {
		return s // a string always encodes; keep the plain form
	}
	body := strings.TrimSuffix(sb.String(), "\n")
	return body[1 : len(body)-1]
}

// pythonJSONBody is s as Python's json.dumps writes it by default
// (ensure_ascii): non-ASCII as \uXXXX, astral characters as surrogate pairs.
func pythonJSONBody(s string) string {
	const hex = "0123456789abcdef"
	var b []byte
	u4 := func(r rune) {
		b = append(b, '\\', 'u', hex[r>>12&15], hex[r>>8&15], hex[r>>4&15], hex[r&15])
	}
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b = append(b, '\\', byte(r))
		case r == '\n':
			b = append(b, `\n`...)
		case r == '\r':
			b = append(b, `\r`...)
		case r == '\t':
			b = append(b, `\t`...)
		case r == '\b':
			b = append(b, `\b`...)
		case r == '\f':
			b = append(b, `\f`...)
		case r < 0x20 || (r >= 0x7f && r < 0x10000):
			if r == 0x7f {
				b = append(b, byte(r)) // DEL is ASCII; Python keeps it
				continue
			}
			u4(r)
		case r >= 0x10000:
			r -= 0x10000
			u4(0xd800 + r>>10)
			u4(0xdc00 + r&0x3ff)
		default:
			b = utf8.AppendRune(b, r)
		}
	}
	return string(b)
}
