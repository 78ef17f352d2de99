package logs

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"sync"
	"unicode"
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
// nil *Masker masks nothing and changes nothing.
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
//
// # What a viewer sees
//
// Masking must hold for what a person sees, not only for the bytes: the web
// UI, app.js and a terminal drop or interpret escape sequences and control
// characters, so "s\x1b[0mecret", "se\x00cret" or "sX\rsecret" can show a
// secret that the bytes do not hold. The rule has two halves.
//
// First, a line is neutralised ([Neutralize]): whatever a viewer would
// interpret, other than colour, is removed, so every viewer shows the same
// text in the same order and nothing overwrites anything. What stays:
// printable text, tab, newline (the Writer splits lines there), SGR
// sequences (ESC [ digits, ';' and ':' m: colours and attributes, which
// move nothing) and invisible characters that reorder nothing (zero-width
// spaces and joiners, variation selectors, tag characters, combining marks
// and the other default-ignorable code points). What goes: every other
// escape sequence (cursor movement, erasing, OSC titles and hyperlinks,
// DCS, charset switches), C0 controls (\r, \b, NUL, BEL...), DEL, C1
// controls (U+0080–U+009F; some terminals read U+009B as CSI), the
// bidirectional controls (U+061C, U+200E, U+200F, U+202A–U+202E,
// U+2066–U+2069: "\u202eterces" reads "secret") and U+2028, U+2029.
// Invalid UTF-8 becomes U+FFFD, as JSON and browsers show it, so that
// bytes on either side of a removed sequence cannot join into a character.
//
// Second, the secret forms are looked for in the line's visible text
// ([Visible]: the neutralised line without its SGR sequences and invisible
// characters), each form as a viewer would see it (its own visible text).
// A match masks the whole span of the line from its first to its last
// byte, with whatever invisible was interleaved; the SGR sequences inside
// the span follow the mask, so the rest of the line keeps its colours. The
// stored bytes are then checked as a text viewer that hides ESC shows them
// (SGR parameters included), and a match there masks the sequences it
// touches too.
//
// Renderers hold up their end, so that none shows more than the visible
// text: webui's HTML renderer and app.js render a line as Neutralize
// leaves it (and neutralise it themselves, for logs stored before or
// without a Masker), and `fastflow logs` prints neutralised lines with tabs
// expanded. Not modelled: text that only looks like a secret (confusable
// letters, another Unicode normalisation form), and a terminal showing the
// raw stored bytes, where a tab at the right margin lets the next
// character overwrite the last column.
type Masker struct {
	patterns
	// inSGR holds the forms that can match the stored bytes across an
	// SGR sequence (see sgrRisk); nil when there are none, as for most
	// secrets.
	inSGR *patterns
}

// patterns is a set of forms to look for.
type patterns struct {
	// first2 has a bit per two-byte prefix of any pattern: most positions of
	// a line are rejected by one bit test.
	first2 []uint64
	// byFirst holds the patterns by first byte, longest first.
	byFirst [256][]string
	count   int
}

func newPatterns(set map[string]struct{}) patterns {
	ps := patterns{first2: make([]uint64, 1<<16/64), count: len(set)}
	for p := range set {
		k := uint16(p[0])<<8 | uint16(p[1])
		ps.first2[k>>6] |= 1 << (k & 63)
		ps.byFirst[p[0]] = append(ps.byFirst[p[0]], p)
	}
	for i := range ps.byFirst {
		slices.SortFunc(ps.byFirst[i], func(a, b string) int {
			return cmp.Or(cmp.Compare(len(b), len(a)), strings.Compare(a, b))
		})
	}
	return ps
}

// NewMasker builds a Masker for the given secret values. Values shorter than
// MinSecretLen are ignored.
func NewMasker(secrets []string) *Masker {
	set := make(map[string]struct{})
	for _, s := range secrets {
		if len(s) < MinSecretLen {
			continue
		}
		for _, v := range variants(s) {
			// Each form is looked for as a viewer sees it and as a text
			// viewer shows the stored bytes; both are the form itself
			// unless it holds control or invisible characters.
			for _, p := range [...]string{Visible(v), withoutESC(Neutralize(v))} {
				if len(p) >= MinSecretLen {
					set[p] = struct{}{}
				}
			}
		}
	}
	m := &Masker{patterns: newPatterns(set)}
	risky := make(map[string]struct{})
	for p := range set {
		if sgrRisk(p) {
			risky[p] = struct{}{}
		}
	}
	if len(risky) > 0 {
		ps := newPatterns(risky)
		m.inSGR = &ps
	}
	return m
}

// sgrRisk reports whether p can match the stored bytes of a line, as a
// text viewer that hides ESC shows them, over part of an SGR sequence
// ("[", parameters, "m") without matching its visible text. Such a match
// holds the '[', or the 'm' with what comes before it in the sequence
// (a parameter or the '['), or starts at the 'm', or lies inside the
// parameters.
func sgrRisk(p string) bool {
	if strings.IndexByte(p, '[') >= 0 || p[0] == 'm' {
		return true
	}
	params := true
	for i := 0; i < len(p); i++ {
		c := p[i]
		isParam := c >= '0' && c <= '9' || c == ';' || c == ':'
		if c == 'm' && i > 0 && (p[i-1] >= '0' && p[i-1] <= '9' || p[i-1] == ';' || p[i-1] == ':') {
			return true
		}
		params = params && isParam
	}
	return params
}

// Patterns returns the number of distinct forms the Masker looks for.
func (m *Masker) Patterns() int {
	if m == nil {
		return 0
	}
	return m.count
}

// Mask returns s neutralised, with every secret form that a viewer would
// see replaced by "***" (see the Masker's doc comment for the rule). It
// returns s itself, without allocating, when s has nothing to neutralise
// and holds no secret. Mask(Mask(s)) == Mask(s) for secrets without '*':
// the operator compares masked lines when it resumes a log.
func (m *Masker) Mask(s string) string {
	if m == nil {
		return s
	}
	if m.count == 0 {
		return Neutralize(s)
	}
	if !plain(s) {
		return m.maskView(s)
	}
	// The common line: its bytes are its visible text.
	var buf [16]int
	regs := find(&m.patterns, s, buf[:0])
	if len(regs) == 0 {
		return s
	}
	// strings.Builder hands its buffer over without a copy: one allocation
	// per masked line.
	var out strings.Builder
	out.Grow(len(s))
	copied := 0
	for r := 0; r < len(regs); r += 2 {
		out.WriteString(s[copied:regs[r]])
		out.WriteString(Mask)
		copied = regs[r+1]
	}
	out.WriteString(s[copied:])
	return out.String()
}

// maskView masks a line that is not plain: it neutralises it, masks the
// matches in its visible text, then those in its bytes.
func (m *Masker) maskView(s string) string {
	v := getView()
	defer putView(v)
	v.build(s, true)
	var buf [16]int
	regs := find(&m.patterns, v.vis, buf[:0])
	bytePass := v.sgr && m.inSGR != nil
	if len(regs) == 0 && !bytePass {
		if !v.changed {
			return s
		}
		return string(v.out)
	}
	v.fill(s)
	out := v.out
	if len(regs) > 0 {
		out = v.masked[:0]
		copied, seg := 0, 0
		for r := 0; r < len(regs); r += 2 {
			// A match of the visible text spans the bytes from its first
			// to its last visible byte, and whatever hides between them.
			var x, y int
			x, seg = v.outPos(regs[r], seg)
			y, seg = v.outPos(regs[r+1]-1, seg)
			y++
			out = append(out, v.out[copied:x]...)
			out = append(out, Mask...)
			out = appendSGR(out, v.out[x:y])
			copied = y
		}
		out = append(out, v.out[copied:]...)
		v.masked = out
	}
	if bytePass {
		out = m.maskBytes(v, out)
	}
	if !v.changed && string(out) == s {
		return s
	}
	return string(out)
}

// maskBytes masks the forms that b, a neutralised line, shows to a text
// viewer that hides ESC but shows the rest of an SGR sequence. Only a form
// that runs into an SGR sequence can match here (the visible text is
// masked already); the sequences it touches go with it.
func (m *Masker) maskBytes(v *view, b []byte) []byte {
	t, tpos := v.plainBytes[:0], v.tpos[:0]
	for i, c := range b {
		if c != 0x1b {
			t = append(t, c)
			tpos = append(tpos, i)
		}
	}
	v.plainBytes, v.tpos = t, tpos
	var buf [16]int
	regs := find(m.inSGR, t, buf[:0])
	if len(regs) == 0 {
		return b
	}
	out := v.rebuilt[:0]
	copied := 0
	for r := 0; r < len(regs); r += 2 {
		x, y := tpos[regs[r]], tpos[regs[r+1]-1]+1
		x, y = widenToSGR(b, x, y)
		if r == 0 || x > copied {
			out = append(out, b[copied:x]...)
			out = append(out, Mask...)
		} // else widened into the previous region, which grows
		copied = max(copied, y)
	}
	out = append(out, b[copied:]...)
	v.rebuilt = out
	return out
}

// widenToSGR widens b[x:y] so that it does not cut an SGR sequence.
func widenToSGR(b []byte, x, y int) (int, int) {
	for i := 0; i < len(b); i++ {
		if b[i] != 0x1b {
			continue
		}
		end := i + 2
		for end < len(b) && b[end] != 'm' {
			end++
		}
		end++ // after the 'm'
		if i < x && x < end {
			x = i
		}
		if i < y && y < end {
			y = end
		}
		i = end - 1
	}
	return x, y
}

// appendSGR appends the SGR sequences of b, a neutralised span, to out.
func appendSGR(out, b []byte) []byte {
	for i := 0; i < len(b); i++ {
		if b[i] != 0x1b {
			continue
		}
		end := i + 2
		for end < len(b) && b[end] != 'm' {
			end++
		}
		out = append(out, b[i:min(end+1, len(b))]...)
		i = end
	}
	return out
}

// find appends to dst the regions of s that hold a pattern, as start, end
// pairs in order. Overlapping or adjacent matches merge into one region;
// at each position the longest pattern wins.
func find[T string | []byte](ps *patterns, s T, dst []int) []int {
	start, end := -1, -1 // the region being grown
	for i := 0; i+1 < len(s); i++ {
		k := uint16(s[i])<<8 | uint16(s[i+1])
		if ps.first2[k>>6]&(1<<(k&63)) == 0 {
			continue
		}
		for _, p := range ps.byFirst[s[i]] {
			if len(p) > len(s)-i || string(s[i:i+len(p)]) != p {
				continue
			}
			e := i + len(p)
			if start >= 0 && i <= end {
				end = max(end, e) // overlapping or adjacent: one region
			} else {
				if start >= 0 {
					dst = append(dst, start, end)
				}
				start, end = i, e
			}
			break // longest first: the first hit is the longest here
		}
	}
	if start >= 0 {
		dst = append(dst, start, end)
	}
	return dst
}

// Neutralize returns s as every viewer shows it alike: without the escape
// sequences other than SGR, the control characters other than tab and
// newline, the C1 and bidirectional controls, U+2028 and U+2029, and with
// invalid UTF-8 as U+FFFD (the Masker's doc comment says why). It returns s
// itself when there is nothing to remove. Renderers and the CLI use it so
// that they show what the Masker saw.
func Neutralize(s string) string {
	if !needsNeutralizing(s) {
		return s
	}
	v := getView()
	defer putView(v)
	v.build(s, false)
	return string(v.out)
}

// Visible returns the text a viewer shows of s: Neutralize(s) without its
// SGR sequences and invisible characters. It is what the Masker looks for
// secrets in.
func Visible(s string) string {
	if plain(s) {
		return s
	}
	v := getView()
	defer putView(v)
	v.build(s, true)
	return string(v.vis)
}

// withoutESC is s without its ESC bytes: a neutralised line as a text
// viewer that hides ESC shows it.
func withoutESC(s string) string {
	return strings.ReplaceAll(s, "\x1b", "")
}

// plain reports whether s is its own visible text and needs no
// neutralising: printable ASCII, tab, newline and visible runes only. Most
// lines are; Mask masks them without taking them apart.
func plain(s string) bool {
	for i := 0; i < len(s); {
		i = skipPrintable(s, i)
		if i == len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			if c != '\t' && c != '\n' {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if size == 1 || kindOf(r) != shown {
			return false // invalid UTF-8, or a control or invisible rune
		}
		i += size
	}
	return true
}

// skipPrintable returns the index of the first byte of s from i on that is
// not printable ASCII (0x20 to 0x7e), or len(s).
func skipPrintable(s string, i int) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	for ; i+8 <= len(s); i += 8 {
		// Eight bytes at a time: a high bit of (x - 0x20…) &^ x flags a
		// byte below 0x20, one of (x + 0x01…) | x a byte of 0x7f or more.
		w := s[i : i+8]
		x := uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
			uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
		if ((x-0x20*ones)&^x|(x+ones)|x)&highs != 0 {
			break
		}
	}
	for ; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			return i
		}
	}
	return i
}

// needsNeutralizing reports whether Neutralize would change s.
func needsNeutralizing(s string) bool {
	for i := 0; i < len(s); {
		i = skipPrintable(s, i)
		if i == len(s) {
			break
		}
		switch c := s[i]; {
		case c == 0x1b:
			end, sgr := escapeEnd(s, i)
			if !sgr {
				return true
			}
			i = end
		case c == '\t' || c == '\n':
			i++
		case c < utf8.RuneSelf:
			return true
		default:
			r, size := utf8.DecodeRuneInString(s[i:])
			if size == 1 || kindOf(r) == dropped {
				return true
			}
			i += size
		}
	}
	return false
}

// view is a line taken apart: what is stored of it, its visible text, and
// scratch space for masking. Views are pooled: masking a coloured line
// would otherwise allocate a few buffers per line.
type view struct {
	out []byte // the neutralised line, once changed (or filled)
	vis []byte // its visible text, if asked for
	// segs map vis to out: from segs[i].vis on, vis[k] is out[k+segs[i].shift],
	// up to the next segment. A segment starts wherever out holds bytes
	// that vis does not (an SGR sequence, an invisible rune).
	segs []segment
	// changed is set when out is not the line: something was removed or
	// replaced. sgr is set when out keeps an SGR sequence.
	changed, sgr bool

	masked, rebuilt, plainBytes []byte
	tpos                        []int
}

type segment struct{ vis, shift int }

var viewPool = sync.Pool{New: func() any { return new(view) }}

func getView() *view { return viewPool.Get().(*view) }

// putView returns v to the pool, unless a huge line made it too big to
// keep around.
func putView(v *view) {
	if cap(v.out) > 64<<10 || cap(v.masked) > 64<<10 || cap(v.rebuilt) > 64<<10 {
		return
	}
	viewPool.Put(v)
}

// build takes s apart; withVis asks for the visible text and its offsets.
// Until something is removed, out is s[:i] and is not copied: most lines
// that come this way only have colours, and keep every byte.
func (v *view) build(s string, withVis bool) {
	v.out, v.vis, v.segs = v.out[:0], v.vis[:0], v.segs[:0]
	v.changed, v.sgr = false, false
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c >= 0x20 && c < 0x7f || c == '\t' || c == '\n':
			j := skipPrintable(s, i+1)
			for j < len(s) && (s[j] == '\t' || s[j] == '\n') {
				j = skipPrintable(s, j+1)
			}
			v.keep(s, i, j, withVis)
			i = j
		case c == 0x1b:
			end, sgr := escapeEnd(s, i)
			if sgr {
				v.keep(s, i, end, false)
				v.sgr = true
			} else {
				v.drop(s, i)
			}
			i = end
		case c < utf8.RuneSelf: // the other C0 controls and DEL
			v.drop(s, i)
			i++
		default:
			r, size := utf8.DecodeRuneInString(s[i:])
			switch {
			case size == 1: // invalid UTF-8
				v.drop(s, i)
				if withVis {
					v.addVis("\uFFFD", len(v.out))
				}
				v.out = append(v.out, "\uFFFD"...)
			case kindOf(r) == dropped:
				v.drop(s, i)
			case kindOf(r) == hidden:
				v.keep(s, i, i+size, false)
			default:
				v.keep(s, i, i+size, withVis)
			}
			i += size
		}
	}
}

// drop notes that the byte at s[i] does not go to out: from here on out is
// no longer s[:i], and is copied.
func (v *view) drop(s string, i int) {
	if !v.changed {
		v.changed = true
		v.out = append(v.out, s[:i]...)
	}
}

// keep keeps s[i:j] in out and, if it is visible text asked for, in vis.
func (v *view) keep(s string, i, j int, visible bool) {
	at := i // out is s[:i] until something changed
	if v.changed {
		at = len(v.out)
		v.out = append(v.out, s[i:j]...)
	}
	if visible {
		v.addVis(s[i:j], at)
	}
}

// addVis appends t, visible text at offset at of out, to vis.
func (v *view) addVis(t string, at int) {
	shift := at - len(v.vis)
	if n := len(v.segs); n == 0 || v.segs[n-1].shift != shift {
		v.segs = append(v.segs, segment{vis: len(v.vis), shift: shift})
	}
	v.vis = append(v.vis, t...)
}

// fill makes out hold the neutralised line when nothing changed.
func (v *view) fill(s string) {
	if !v.changed {
		v.out = append(v.out[:0], s...)
	}
}

// outPos returns the offset in out of vis[k], searching the segments from
// seg on (regions come in order), and the segment it is in.
func (v *view) outPos(k, seg int) (int, int) {
	for seg+1 < len(v.segs) && v.segs[seg+1].vis <= k {
		seg++
	}
	return k + v.segs[seg].shift, seg
}

// escapeEnd returns the index after the escape sequence that starts with
// the ESC at s[i], and whether it is an SGR sequence viewers keep: ESC [,
// parameters of digits, ';' and ':' only, m. The forms follow ECMA-48 as
// terminals parse them: CSI, the string sequences (OSC, DCS, SOS, PM, APC)
// up to BEL or ST, nF sequences (ESC intermediates final, e.g. the charset
// switch ESC ( B) and the two-byte ones. Anything cut off by the end of
// the line goes with it, as a terminal would swallow it; an ESC not
// followed by a sequence goes alone and what follows stays text. webui's
// and app.js's renderers parse the same way.
func escapeEnd(s string, i int) (end int, sgr bool) {
	if i+1 >= len(s) {
		return len(s), false
	}
	switch c := s[i+1]; {
	case c == '[':
		j := i + 2
		for j < len(s) && s[j] >= 0x30 && s[j] <= 0x3f {
			j++
		}
		k := j
		for k < len(s) && s[k] >= 0x20 && s[k] <= 0x2f {
			k++
		}
		switch {
		case k >= len(s):
			return len(s), false
		case s[k] >= 0x40 && s[k] <= 0x7e:
			return k + 1, s[k] == 'm' && k == j && sgrParams(s[i+2:j])
		default:
			// Not a CSI after all: what was read goes, the stray byte
			// stays text.
			return k, false
		}
	case c == ']' || c == 'P' || c == 'X' || c == '^' || c == '_':
		for j := i + 2; j < len(s); j++ {
			switch s[j] {
			case 0x07:
				return j + 1, false
			case 0x1b:
				if j+1 < len(s) && s[j+1] == '\\' {
					return j + 2, false
				}
				// An ESC inside the string cancels it and starts a new
				// sequence.
				return j, false
			}
		}
		return len(s), false
	case c >= 0x20 && c <= 0x2f:
		j := i + 1
		for j < len(s) && s[j] >= 0x20 && s[j] <= 0x2f {
			j++
		}
		if j < len(s) && s[j] >= 0x30 && s[j] <= 0x7e {
			return j + 1, false
		}
		return j, false
	case c >= 0x30 && c <= 0x7e:
		return i + 2, false
	default:
		return i + 1, false
	}
}

// sgrParams reports whether p are parameters of a plain SGR sequence:
// digits, ';' and ':' only. The private forms (with '<', '=', '>' or '?')
// set terminal modes, not colours.
func sgrParams(p string) bool {
	for i := 0; i < len(p); i++ {
		if c := p[i]; (c < '0' || c > '9') && c != ';' && c != ':' {
			return false
		}
	}
	return true
}

// runeKind says what viewers do with a rune.
type runeKind uint8

const (
	shown runeKind = iota
	// hidden runes are kept but show nothing by themselves and move
	// nothing: they are not part of the visible text.
	hidden
	// dropped runes are removed: C1 controls, bidirectional controls,
	// line and paragraph separators.
	dropped
)

// kindTableEnd bounds the precomputed table; above it only plane 14 (tags
// and variation selectors) holds invisible runes.
const kindTableEnd = 0x20000

// hiddenBits and droppedBits have a bit per rune below kindTableEnd:
// classifying a rune is a bit test, not a search of five range tables.
var hiddenBits, droppedBits [kindTableEnd / 64]uint64

// invisible are the runes that show nothing: combining marks (they adorn
// the rune before them), format characters (zero-width space, joiners,
// soft hyphen, BOM, tags), variation selectors, and the other
// default-ignorable code points (Hangul fillers, the combining grapheme
// joiner).
var invisible = []*unicode.RangeTable{
	unicode.Mn, unicode.Me, unicode.Cf, unicode.Variation_Selector, unicode.Other_Default_Ignorable_Code_Point,
}

func init() {
	for _, t := range invisible {
		for _, r := range t.R16 {
			for c := rune(r.Lo); c <= rune(r.Hi); c += rune(r.Stride) {
				hiddenBits[c/64] |= 1 << (c % 64)
			}
		}
		for _, r := range t.R32 {
			for c := rune(r.Lo); c <= rune(r.Hi) && c < kindTableEnd; c += rune(r.Stride) {
				hiddenBits[c/64] |= 1 << (c % 64)
			}
		}
	}
	drop := func(lo, hi rune) {
		for c := lo; c <= hi; c++ {
			droppedBits[c/64] |= 1 << (c % 64)
			hiddenBits[c/64] &^= 1 << (c % 64)
		}
	}
	drop(0x80, 0x9f)     // C1 controls
	drop(0x061c, 0x061c) // ARABIC LETTER MARK
	drop(0x200e, 0x200f) // LRM, RLM
	drop(0x2028, 0x2029) // line and paragraph separators
	drop(0x202a, 0x202e) // embeddings and overrides
	drop(0x2066, 0x2069) // isolates
}

// kindOf classifies a rune of valid UTF-8 at or above U+0080.
func kindOf(r rune) runeKind {
	if r < kindTableEnd {
		switch {
		case hiddenBits[r/64]&(1<<(r%64)) != 0:
			return hidden
		case droppedBits[r/64]&(1<<(r%64)) != 0:
			return dropped
		}
		return shown
	}
	if r >= 0xe0000 && r <= 0xe0fff && unicode.In(r, invisible...) {
		return hidden
	}
	return shown
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
