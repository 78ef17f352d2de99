package webui

import (
	"html/template"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/fastflow-dev/fastflow/status/logs"
)

// ansiStyle is the SGR state of a log line. The page styles the classes
// (ansi-fg-N, ansi-bg-N, ansi-bold …) instead of inline colours, so the same
// markup works with the theme and with the JS renderer of live lines.
type ansiStyle struct {
	fg, bg                       int8 // 0..15, or -1 for the default colour
	bold, dim, italic, underline bool
}

var ansiPlain = ansiStyle{fg: -1, bg: -1}

// ansiFG and ansiBG are the class names, precomputed so that rendering a
// coloured line does not format numbers.
var ansiFG, ansiBG [16]string

func init() {
	for i := range 16 {
		ansiFG[i] = "ansi-fg-" + strconv.Itoa(i)
		ansiBG[i] = "ansi-bg-" + strconv.Itoa(i)
	}
}

// appendOpen writes the span that starts text in style s.
func (s ansiStyle) appendOpen(b []byte) []byte {
	var classes [6]string
	n := 0
	if s.fg >= 0 {
		classes[n] = ansiFG[s.fg]
		n++
	}
	if s.bg >= 0 {
		classes[n] = ansiBG[s.bg]
		n++
	}
	for _, c := range [...]struct {
		on   bool
		name string
	}{{s.bold, "ansi-bold"}, {s.dim, "ansi-dim"}, {s.italic, "ansi-italic"}, {s.underline, "ansi-underline"}} {
		if c.on {
			classes[n] = c.name
			n++
		}
	}
	b = append(b, `<span class="`...)
	for i, c := range classes[:n] {
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, c...)
	}
	return append(b, `">`...)
}

// ansiWriter accumulates the HTML of one line.
type ansiWriter struct {
	b      []byte
	cur    ansiStyle // style of the text from here on
	open   ansiStyle // style of the open span, meaningful when inSpan
	inSpan bool
}

func (w *ansiWriter) text(seg string) {
	if seg == "" {
		return
	}
	if w.inSpan && w.open != w.cur {
		w.b = append(w.b, "</span>"...)
		w.inSpan = false
	}
	if !w.inSpan && w.cur != ansiPlain {
		w.b = w.cur.appendOpen(w.b)
		w.open, w.inSpan = w.cur, true
	}
	w.b = appendHTMLText(w.b, seg)
}

// ansiHTML renders one log line: escaped text with SGR colours as spans
// (classes per the contract).
//
// It renders the line as logs.Neutralize leaves it, which is how the
// masker saw it: every escape sequence but SGR, the control characters,
// the C1 and bidirectional controls are gone, so the page shows the
// visible text the masker checked, in order, and nothing it did not model
// (a log stored by an older version or without a masker is neutralised
// here). app.js renders live lines the same way.
//
// Spans are never nested: a style change closes the open span and the next
// text opens one with the whole new style, so no input can unbalance the
// markup, and a span is only opened for text, so there are no empty ones.
func ansiHTML(text string) template.HTML {
	text = logs.Neutralize(text)
	if strings.IndexByte(text, 0x1b) < 0 {
		if !needsHTMLEscape(text) {
			return template.HTML(text)
		}
		return template.HTML(appendHTMLText(make([]byte, 0, len(text)+16), text))
	}
	w := ansiWriter{b: make([]byte, 0, len(text)*3/2+96), cur: ansiPlain}
	seg := 0 // start of the text not yet written
	for i := 0; i < len(text); {
		if text[i] != 0x1b {
			i++
			continue
		}
		w.text(text[seg:i])
		// Neutralize leaves only whole SGR sequences: ESC [ params m.
		m := strings.IndexByte(text[i:], 'm')
		if m < 0 {
			seg = len(text) // cannot happen; drop the rest rather than panic
			break
		}
		w.cur.applySGR(text[i+2 : i+m])
		i += m + 1
		seg = i
	}
	w.text(text[seg:])
	if w.inSpan {
		w.b = append(w.b, "</span>"...)
	}
	return template.HTML(w.b)
}

// sgrParams walks the ';'-separated parameters of an SGR sequence without
// allocating.
type sgrParams struct {
	s    string
	done bool
}

func (p *sgrParams) next() (string, bool) {
	if p.done {
		return "", false
	}
	i := strings.IndexByte(p.s, ';')
	if i < 0 {
		p.done = true
		return p.s, true
	}
	f := p.s[:i]
	p.s = p.s[i+1:]
	return f, true
}

// sgrNum is the value of a parameter: empty means the default 0, anything
// but digits -1 (ignored). Large values saturate instead of overflowing.
func sgrNum(f string) int {
	n := 0
	for i := 0; i < len(f); i++ {
		c := f[i]
		if c < '0' || c > '9' {
			return -1
		}
		if n < 1_000_000 {
			n = n*10 + int(c-'0')
		}
	}
	return n
}

// applySGR applies the parameters of ESC [ params m (digits, ';' and ':'
// only: logs.Neutralize drops the private forms).
func (s *ansiStyle) applySGR(params string) {
	p := sgrParams{s: params}
	for {
		f, ok := p.next()
		if !ok {
			return
		}
		if strings.IndexByte(f, ':') >= 0 {
			s.applySubParams(f)
			continue
		}
		switch n := sgrNum(f); {
		case n == 0:
			*s = ansiPlain
		case n == 1:
			s.bold = true
		case n == 2:
			s.dim = true
		case n == 3:
			s.italic = true
		case n == 4:
			s.underline = true
		case n == 22:
			s.bold, s.dim = false, false
		case n == 23:
			s.italic = false
		case n == 24:
			s.underline = false
		case n >= 30 && n <= 37:
			s.fg = int8(n - 30)
		case n == 39:
			s.fg = -1
		case n >= 40 && n <= 47:
			s.bg = int8(n - 40)
		case n == 49:
			s.bg = -1
		case n >= 90 && n <= 97:
			s.fg = int8(n - 90 + 8)
		case n >= 100 && n <= 107:
			s.bg = int8(n - 100 + 8)
		case n == 38 || n == 48 || n == 58:
			// Extended colours take their arguments from the following
			// parameters; they must be consumed even when ignored, or
			// "38;2;1;2;4" would turn on bold, dim and underline.
			mode, ok := p.next()
			if !ok {
				return
			}
			switch sgrNum(mode) {
			case 5:
				idx, ok := p.next()
				if !ok {
					return
				}
				s.setIndexed(n, sgrNum(idx))
			case 2:
				p.next()
				p.next()
				p.next()
			}
		}
	}
}

// applySubParams handles the ':' form (ISO 8613-6), where a colour keeps
// its arguments in one parameter: 38:5:n, 38:2::r:g:b, 4:3 (curly underline).
func (s *ansiStyle) applySubParams(f string) {
	first, rest, _ := strings.Cut(f, ":")
	switch n := sgrNum(first); n {
	case 4:
		s.underline = sgrNum(rest) != 0
	case 38, 48:
		// "38:5" without an index sets nothing (app.js agrees).
		mode, idx, ok := strings.Cut(rest, ":")
		if ok && sgrNum(mode) == 5 {
			s.setIndexed(n, sgrNum(idx))
		}
	}
}

// setIndexed applies 38;5;idx or 48;5;idx. Only the 16 palette colours
// have classes; 256-colour indexes above them are ignored rather than
// approximated.
func (s *ansiStyle) setIndexed(code, idx int) {
	if idx < 0 || idx >= 16 {
		return
	}
	switch code {
	case 38:
		s.fg = int8(idx)
	case 48:
		s.bg = int8(idx)
	}
}

// needsHTMLEscape reports whether appendHTMLText would change s, so that
// the common clean string is written without a copy.
func needsHTMLEscape(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 || r == 0xfffe || r == 0xffff {
				return true
			}
			i += size
			continue
		}
		switch {
		case c < 0x20 && c != '\t' && c != '\n', c == 0x7f, c == '<', c == '>', c == '&', c == '"', c == '\'':
			return true
		}
		i++
	}
	return false
}

// appendHTMLText appends s escaped for HTML text and attribute values,
// escaping the same characters as template.HTMLEscapeString. It also makes
// the output safe to embed in XML (SVG): invalid UTF-8 (and the two
// non-characters XML forbids) becomes U+FFFD, and
// control characters other than tab and newline, which neither format
// allows or displays, are dropped.
func appendHTMLText(b []byte, s string) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 || r == 0xfffe || r == 0xffff {
				b = append(b, "\uFFFD"...)
			} else {
				b = append(b, s[i:i+size]...)
			}
			i += size
			continue
		}
		switch {
		case c == '<':
			b = append(b, "&lt;"...)
		case c == '>':
			b = append(b, "&gt;"...)
		case c == '&':
			b = append(b, "&amp;"...)
		case c == '"':
			b = append(b, "&#34;"...)
		case c == '\'':
			b = append(b, "&#39;"...)
		case c < 0x20 && c != '\t' && c != '\n', c == 0x7f:
		default:
			b = append(b, c)
		}
		i++
	}
	return b
}
