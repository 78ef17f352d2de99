package logs

import (
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"
)

var update = flag.Bool("update", false, "rewrite testdata/mask_attacks.json")

// attackSecrets are the secrets of the attack corpus: ASCII with digits and
// punctuation, non-ASCII with characters HTML escapes, and digits only (a
// PIN), which fit inside SGR parameters.
var attackSecrets = []string{"s3cr3t-T0ken!x", "pässwörd😀<&>", "8675309"}

// attack is one way a pipeline can print a secret so that its bytes do not
// hold it but a viewer would show it.
type attack struct {
	Name   string `json:"name"`
	Secret string `json:"secret"`
	Line   string `json:"line"`
}

// between puts sep between the runes of s.
func between(s, sep string) string {
	var b strings.Builder
	for i, r := range []rune(s) {
		if i > 0 {
			b.WriteString(sep)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// eachRune writes every rune of s through f.
func eachRune(s string, f func(i int, r rune) string) string {
	var b strings.Builder
	for i, r := range []rune(s) {
		b.WriteString(f(i, r))
	}
	return b.String()
}

// halves splits s between two runes near its middle.
func halves(s string) (string, string) {
	r := []rune(s)
	return string(r[:len(r)/2]), string(r[len(r)/2:])
}

func reverse(s string) string {
	r := []rune(s)
	slices.Reverse(r)
	return string(r)
}

// attacks is the corpus: each entry prints secret so that a viewer that
// drops or interprets escape sequences, control and invisible characters
// would show it (or, for the overwrite and reorder tricks, a terminal or a
// browser would), in plain and in the encodings the Masker covers.
func attacks(secret string) []attack {
	a, b := halves(secret)
	b64 := base64.StdEncoding.EncodeToString([]byte(secret))
	b64a, b64b := halves(b64)
	js, _ := json.Marshal(secret)
	jsBody := string(js[1 : len(js)-1])
	jsa, jsb := halves(jsBody)
	q := url.QueryEscape(secret)
	qa, qb := halves(q)
	all := []attack{
		{"SGR reset after the first rune", "", eachRune(secret, func(i int, r rune) string {
			if i == 1 {
				return "\x1b[0m" + string(r)
			}
			return string(r)
		})},
		{"SGR between every rune", "", between(secret, "\x1b[0m")},
		{"each rune its own colour", "", eachRune(secret, func(i int, r rune) string {
			return "\x1b[" + string(rune('1'+i%7)) + ";3" + string(rune('0'+i%8)) + "m" + string(r)
		}) + "\x1b[0m"},
		{"split across two colours", "", "token: \x1b[31m" + a + "\x1b[32m" + b + "\x1b[0m ok"},
		{"256 colour and truecolour inside", "", a + "\x1b[38;5;196m\x1b[48;2;1;2;3m" + b},
		{"colon SGR inside", "", a + "\x1b[38:2::255:0:0m\x1b[4:3m" + b},
		{"empty SGR inside", "", a + "\x1b[m" + b},
		{"private SGR inside", "", a + "\x1b[>4;1m\x1b[?25m" + b},
		{"NUL between every rune", "", between(secret, "\x00")},
		{"BEL, SOH and DEL inside", "", a + "\x07\x01\x7f" + b},
		{"every C0 control inside", "", a + "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1c\x1d\x1e\x1f" + b},
		{"carriage return overwrites a cover", "", strings.Repeat("X", 20) + "\r" + secret},
		{"carriage return before the second half", "", a + "\r" + b},
		{"carriage return then cursor right", "", a + "X" + b + "\r\x1b[" + "1C" + a},
		{"backspace over a wrong rune", "", a + "X\b" + b},
		{"backspaces after every rune", "", eachRune(secret, func(_ int, r rune) string { return string(r) + "_\b" })},
		{"tqdm progress then the secret", "", "\r 10%|#    |\r 50%|###  |\rtoken=" + secret + "\r100%|#####|"},
		{"cursor movement inside", "", a + "\x1b[1C\x1b[1D\x1b[0K" + b},
		{"cursor back over a cover", "", a + "XXXX\x1b[4D" + b},
		{"erase line and column moves", "", "\x1b[2K\x1b[1G" + a + "\x1b[s\x1b[u" + b},
		{"cursor up and down inside", "", a + "\x1b[A\x1b[B\x1b[3;5H" + b},
		{"OSC title inside", "", a + "\x1b]0;window title\x07" + b},
		{"OSC hyperlink around halves", "", "\x1b]8;;https://x.test/\x1b\\" + a + "\x1b]8;;\x1b\\" + b},
		{"OSC holding the secret", "", "\x1b]0;" + secret + "\x07visible"},
		{"OSC holding the secret, ST", "", "\x1b]2;" + secret + "\x1b\\visible"},
		{"DCS, SOS, PM, APC inside", "", a + "\x1bPq#0\x1b\\\x1bXsos\x1b\\\x1b^pm\x1b\\\x1b_apc\x1b\\" + b},
		{"charset switch inside", "", a + "\x1b(B\x1b)0" + b},
		{"two-byte escapes inside", "", a + "\x1b7\x1b8\x1b=\x1b>" + b},
		{"lone ESC before a non-ASCII rune", "", a + "\x1b\u00e9" + b},
		{"unterminated CSI broken by a control", "", a + "\x1b[31\x01" + b},
		{"C1 CSI inside", "", a + "\u009b" + b},
		{"C1 CSI with parameters inside", "", a + "\u009b1C" + b},
		{"NEL and other C1 inside", "", a + "\u0085\u0090\u009c\u009d" + b},
		{"zero-width space between every rune", "", between(secret, "\u200b")},
		{"zero-width joiners and non-joiners", "", between(secret, "\u200c\u200d")},
		{"word joiner and invisible operators", "", between(secret, "\u2060\u2062\u2063\u2064")},
		{"BOM and soft hyphen", "", "\ufeff" + between(secret, "\u00ad")},
		{"variation selectors", "", between(secret, "\ufe0f\ufe0e")},
		{"tag characters", "", between(secret, "\U000E0041\U000E007F")},
		{"combining grapheme joiner and Hangul filler", "", a + "\u034f\u115f\u3164" + b},
		{"combining low line under every rune", "", eachRune(secret, func(_ int, r rune) string { return string(r) + "\u0332" })},
		{"bidi marks inside", "", between(secret, "\u200e\u200f\u061c")},
		{"right-to-left override of the reversed secret", "", "\u202e" + reverse(secret) + "\u202c"},
		{"right-to-left isolate of the reversed secret", "", "\u2067" + reverse(secret) + "\u2069"},
		{"embeddings inside", "", a + "\u202a\u202b\u202d" + b},
		{"line and paragraph separators inside", "", a + "\u2028\u2029" + b},
		{"invalid UTF-8 joining around a removed sequence", "", a + "\xe2\x1b[K\x80\x8b" + b},
		{"everything at once", "", eachRune(secret, func(i int, r rune) string {
			return string(r) + []string{"\x1b[1m", "\x00", "\u200b", "\x1b]0;t\x07", "\u0085", "\x1b[2C", "\u202c", "\x7f"}[i%8]
		})},
		{"base64 with SGR inside", "", "b64: " + b64a + "\x1b[0m" + b64b},
		{"base64 with zero-width space inside", "", "b64: " + b64a + "\u200b" + b64b},
		{"JSON body with a NUL inside", "", `{"pw":"` + jsa + "\x00" + jsb + `"}`},
		{"query escaped with SGR inside", "", "GET /?pw=" + qa + "\x1b[1m" + qb},
	}
	if strings.Trim(secret, "0123456789") == "" {
		all = append(all,
			attack{"in SGR parameters", "", "\x1b[38;5;" + secret + "mcoloured\x1b[0m"},
			attack{"in SGR parameters, split", "", "\x1b[" + a + ";" + b + "m" + a + "\x1b[m" + b},
		)
	}
	for i := range all {
		all[i].Secret = secret
	}
	return all
}

// attackCorpus is attacks of every attackSecrets secret, named by secret.
func attackCorpus() []attack {
	var out []attack
	for i, s := range attackSecrets {
		for _, a := range attacks(s) {
			a.Name = "secret " + string(rune('A'+i)) + ": " + a.Name
			out = append(out, a)
		}
	}
	return out
}

// leakForms are the forms of secret a view must not show: the value and
// the encodings the Masker covers.
func leakForms(secret string) []string {
	out := []string{secret}
	for _, v := range variants(secret) {
		if len(v) >= MinSecretLen {
			out = append(out, v)
		}
	}
	return out
}

// checkMasked fails when a view of out, the masked line, shows a form of
// secret, or when out is not what Mask promises (neutral, idempotent).
func checkMasked(t *testing.T, m *Masker, in, out, secret string) {
	t.Helper()
	views := map[string]string{
		"visible text":             Visible(out),
		"stored bytes":             out,
		"stored bytes, ESC hidden": withoutESC(out),
		"stored bytes, ESC and invisibles hidden": strings.Map(func(r rune) rune {
			if r >= utf8.RuneSelf && kindOf(r) != shown {
				return -1
			}
			return r
		}, withoutESC(out)),
	}
	for name, v := range views {
		for _, f := range leakForms(secret) {
			if strings.Contains(v, f) {
				t.Fatalf("Mask(%q) = %q: the %s shows %q", in, out, name, f)
			}
		}
	}
	if n := Neutralize(out); n != out {
		t.Fatalf("Mask(%q) = %q is not neutral: Neutralize gives %q", in, out, n)
	}
	if again := m.Mask(out); again != out {
		t.Fatalf("Mask is not idempotent on %q: %q, then %q", in, out, again)
	}
	if !utf8.ValidString(out) {
		t.Fatalf("Mask(%q) = %q is not valid UTF-8", in, out)
	}
	checkOnlySGR(t, in, out)
}

// checkOnlySGR fails unless every byte of out a terminal interprets is
// tab, newline or part of an SGR sequence: so a terminal showing the
// stored bytes shows their visible text, in order, overwriting nothing.
func checkOnlySGR(t *testing.T, in, out string) {
	t.Helper()
	for i := 0; i < len(out); i++ {
		c := out[i]
		switch {
		case c == 0x1b:
			j := i + 2
			if j > len(out) || out[i+1] != '[' {
				t.Fatalf("Mask(%q) = %q: ESC at %d does not start a CSI", in, out, i)
			}
			for j < len(out) && (out[j] >= '0' && out[j] <= '9' || out[j] == ';' || out[j] == ':') {
				j++
			}
			if j >= len(out) || out[j] != 'm' {
				t.Fatalf("Mask(%q) = %q: the sequence at %d is not SGR", in, out, i)
			}
			i = j
		case c < 0x20 && c != '\t' && c != '\n', c == 0x7f:
			t.Fatalf("Mask(%q) = %q: control byte %#x at %d", in, out, c, i)
		}
	}
	for _, r := range out {
		if r >= 0x80 && r <= 0x9f || r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069 ||
			r == 0x200e || r == 0x200f || r == 0x061c || r == 0x2028 || r == 0x2029 {
			t.Fatalf("Mask(%q) = %q: control rune %U", in, out, r)
		}
	}
}

// TestMaskAttacks: no attack of the corpus shows a secret in any view of
// the line as stored, and each attack either is masked or, once
// neutralised, does not spell the secret any more (the overwrite and
// reorder tricks: without \r, \b, cursor movement and bidi overrides
// they show only their cover text).
func TestMaskAttacks(t *testing.T) {
	t.Parallel()
	m := NewMasker(attackSecrets)
	for _, a := range attackCorpus() {
		t.Run(a.Name, func(t *testing.T) {
			t.Parallel()
			for _, in := range []string{a.Line, "before " + a.Line + " after", a.Line + a.Line} {
				out := m.Mask(in)
				checkMasked(t, m, in, out, a.Secret)
			}
		})
	}
}

// TestMaskAttacksFile keeps testdata/mask_attacks.json equal to the
// corpus: webui's renderer tests, the CLI's and the browser tests read it
// to hold every viewer to it. Rewrite it with -update.
func TestMaskAttacksFile(t *testing.T) {
	t.Parallel()
	var cases []attack
	for _, a := range attackCorpus() {
		if utf8.ValidString(a.Line) {
			cases = append(cases, a) // JSON carries valid UTF-8 only
		}
	}
	b, err := json.MarshalIndent(cases, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	want := asciiJSON(b) + "\n"
	path := filepath.Join("testdata", "mask_attacks.json")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update ./status/logs/ to write it)", err)
	}
	if string(got) != want {
		t.Errorf("%s is out of date: run go test -update ./status/logs/", path)
	}
}

// asciiJSON writes DEL and the non-ASCII runes of JSON text b as \u
// escapes, so the file shows the controls and invisible characters it
// carries (raw, a bidi override would reorder the file in an editor).
func asciiJSON(b []byte) string {
	var sb strings.Builder
	for _, r := range string(b) {
		switch {
		case r < 0x7f:
			sb.WriteRune(r)
		case r > 0xffff:
			r1, r2 := utf16.EncodeRune(r)
			fmt.Fprintf(&sb, "\\u%04x\\u%04x", r1, r2)
		default:
			fmt.Fprintf(&sb, "\\u%04x", r)
		}
	}
	return sb.String()
}

// TestMaskWhatAViewerSees pins the exact output for the main rules.
func TestMaskWhatAViewerSees(t *testing.T) {
	t.Parallel()
	const secret = "hunter22"
	tests := []struct {
		name, in, want string
	}{
		{"SGR inside: masked, the colours kept after the mask", "pw=hu\x1b[31mnter\x1b[0m22 ok", "pw=***\x1b[31m\x1b[0m ok"},
		{"SGR around: kept", "\x1b[1mhunter22\x1b[0m", "\x1b[1m***\x1b[0m"},
		{"NUL inside", "hun\x00ter22", "***"},
		{"carriage return: dropped, what follows masked", "XXXXXXXXXX\rhunter22", "XXXXXXXXXX***"},
		{"backspace overwrite: dropped, shows the cover", "hunteX\br22", "hunteXr22"},
		{"cursor movement dropped", "hun\x1b[1C\x1b[2Dter22", "***"},
		{"zero-width space inside, masked with it", "a hun\u200bter22 b", "a *** b"},
		{"combining marks inside, masked with them", "hu\u0332nter22\u0332!", "***\u0332!"},
		{"zero-width joiner elsewhere kept", "👨\u200d👩 ok", "👨\u200d👩 ok"},
		{"right-to-left override dropped", "\u202e22retnuh\u202c", "22retnuh"},
		{"OSC dropped with the secret in it", "\x1b]0;hunter22\x07title set", "title set"},
		{"C1 CSI dropped", "hun\u009bter22", "***"},
		{"invalid UTF-8 shown as U+FFFD", "hun\xffter22", "hun\uFFFDter22"},
		{"base64 with SGR inside", "b64=aHVud\x1b[0mGVyMjI=", "b64=***\x1b[0m"},
		{"a CSI takes the letter after its parameters", "\x1b[38;5;4hunter22", "unter22"},
		{"clean line unchanged", "nothing to see here", "nothing to see here"},
		{"colours without a secret unchanged", "\x1b[32m✓\x1b[0m done", "\x1b[32m✓\x1b[0m done"},
	}
	m := NewMasker([]string{secret})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := m.Mask(tt.in); got != tt.want {
				t.Errorf("Mask(%q)\n got %q\nwant %q", tt.in, got, tt.want)
			}
		})
	}

	// A digits-only secret hidden in SGR parameters: the sequence goes.
	pin := NewMasker([]string{"8675309"})
	if got, want := pin.Mask("\x1b[38;5;8675309mcoloured\x1b[0m"), "***coloured\x1b[0m"; got != want {
		t.Errorf("PIN in SGR parameters: got %q, want %q", got, want)
	}
}

// TestNeutralize: the neutral form keeps text, tab, newline, SGR and the
// invisible characters, and drops the rest, with or without secrets.
func TestNeutralize(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"", ""},
		{"plain\ttext\n", "plain\ttext\n"},
		{"\x1b[1;31mred\x1b[0m", "\x1b[1;31mred\x1b[0m"},
		{"a\rb\bc\x00d\x07e\x7f", "abcde"},
		{"\x1b[2K\x1b[1G50%\x1b[?25l", "50%"},
		{"\x1b]8;;https://x.test/\x1b\\link\x1b]8;;\x1b\\", "link"},
		{"\x1b[>4;1mA", "A"},
		{"a\u0085b\u009bc", "abc"},
		{"\u202eabc\u202c\u2066d\u2069\u200ee\u2028f", "abcdef"},
		{"zero\u200bwidth\u200d\ufe0f", "zero\u200bwidth\u200d\ufe0f"},
		{"bad \xff\xe2\x80 utf-8", "bad \uFFFD\uFFFD\uFFFD utf-8"},
		{"\x1b[31\x01mX", "mX"},
		{"x\x1b[31", "x"},
	}
	for _, tt := range tests {
		if got := Neutralize(tt.in); got != tt.want {
			t.Errorf("Neutralize(%q) = %q, want %q", tt.in, got, tt.want)
		}
		for _, m := range []*Masker{NewMasker(nil), NewMasker([]string{"never printed"})} {
			if got := m.Mask(tt.in); got != tt.want {
				t.Errorf("Mask(%q) without a match = %q, want %q", tt.in, got, tt.want)
			}
		}
	}
	if got := Visible("\x1b[1ma\u200bb\u0301c\x1b[0m\x00"); got != "abc" {
		t.Errorf("Visible = %q, want %q", got, "abc")
	}
}

// TestMaskNoAllocWhenNeutral: lines that need no change cost no
// allocation, coloured ones included.
func TestMaskNoAllocWhenNeutral(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	m := NewMasker(benchSecrets)
	for _, line := range []string{benchLine, benchColourLine, "grün ✓ 日本語 " + benchLine} {
		if got := m.Mask(line); got != line {
			t.Fatalf("Mask(%q) = %q", line, got)
		}
		if allocs := testing.AllocsPerRun(100, func() { _ = m.Mask(line) }); allocs != 0 {
			t.Errorf("Mask(%q) allocated %v times", line, allocs)
		}
		if allocs := testing.AllocsPerRun(100, func() { _ = Neutralize(line) }); allocs != 0 {
			t.Errorf("Neutralize(%q) allocated %v times", line, allocs)
		}
	}
}

// fuzzFillers are what FuzzMaskInterleaved puts between the runes of a
// secret: escape sequences of every form, control and invisible
// characters, and (index 1) the fuzzer's own string.
var fuzzFillers = []string{
	"", "", "\x1b[0m", "\x1b[38;5;1m", "\x1b[1C", "\x1b[2D", "\x1b]0;t\x07", "\x1b]8;;u\x1b\\", "\x1bP\x1b\\",
	"\x1b(B", "\x1b7", "\x1b", "\x1b[", "\x00", "\x07", "\b", "\r", "\x7f", "\u0085", "\u009b", "\u200b",
	"\u200d", "\ufeff", "\u00ad", "\ufe0f", "\u0332", "\u202e", "\u2066", "\u200f", "\u2028", "\xff", "\xe2\x80",
}

// FuzzMaskInterleaved interleaves a secret (or one of its encodings) with
// escape sequences, control and invisible characters, between arbitrary
// text, and checks that no view of the masked line shows the secret. Its
// seeds run as a normal test; go test -fuzz FuzzMaskInterleaved explores.
func FuzzMaskInterleaved(f *testing.F) {
	f.Add("token=", " done", []byte{0, 2, 3, 4, 5, 6}, "\x1b[0m")
	f.Add("", "", []byte{1, 1, 1, 1}, "\x00")
	f.Add("\x1b[31m", "\x1b", []byte{7, 13, 20, 27, 30}, "\u200b\x1b[2K")
	f.Add("XXXXXXXXXXXXXXXXXXXX\r", "", []byte{1}, "\b")
	f.Add("\u202e", "\u202c", []byte{26, 27, 28, 29}, "")
	f.Add("b64: ", "", []byte{0x41, 2, 0, 14, 0, 21}, "\x1b]0;")
	f.Add("GET /?q=", "&x", []byte{0xc3, 9, 19, 31}, "\xc3")
	for _, a := range attackCorpus()[:8] {
		f.Add(a.Line, "", []byte{}, "")
	}
	m := NewMasker(attackSecrets)
	f.Fuzz(func(t *testing.T, prefix, suffix string, gaps []byte, filler string) {
		if len(prefix)+len(suffix)+len(filler) > 4096 {
			return
		}
		sel := byte(0)
		if len(gaps) > 0 {
			sel = gaps[0]
		}
		secret := attackSecrets[int(sel)%len(attackSecrets)]
		// The top bits of the first gap pick the form printed.
		forms := leakForms(secret)
		form := forms[int(sel>>4)%len(forms)]
		var b strings.Builder
		b.WriteString(prefix)
		for i, r := range []rune(form) {
			if i > 0 && i < len(gaps) {
				if k := int(gaps[i]) % len(fuzzFillers); k == 1 {
					b.WriteString(filler)
				} else {
					b.WriteString(fuzzFillers[k])
				}
			}
			b.WriteRune(r)
		}
		b.WriteString(suffix)
		in := b.String()
		checkMasked(t, m, in, m.Mask(in), secret)
	})
}

// benchColourLine is benchLine as a colourising logger prints it.
const benchColourLine = "\x1b[2m2026-11-27 05:00:01,123\x1b[0m \x1b[32mINFO\x1b[0m \x1b[1metl.load\x1b[0m: loaded \x1b[36m18734\x1b[0m rows into warehouse.orders in \x1b[36m2.31\x1b[0ms (batch 17/40, retries 0)"

func BenchmarkMaskView(b *testing.B) {
	m := NewMasker(benchSecrets)
	for _, bc := range []struct{ name, line string }{
		{"colour", benchColourLine},
		{"colour secret", benchColourLine + " token=\x1b[33m" + benchSecrets[0] + "\x1b[0m"},
		{"secret split by SGR", "token=" + benchSecrets[0][:10] + "\x1b[0m" + benchSecrets[0][10:] + " " + benchLine},
		{"progress bar", "\r 10%|#    |\r 50%|###  |\r100%|#####| " + benchLine},
		{"non-ASCII", "grün ✓ 日本語 " + benchLine},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(bc.line)))
			b.ReportAllocs()
			for b.Loop() {
				_ = m.Mask(bc.line)
			}
		})
	}
}

// TestSkipPrintable holds the eight-bytes-at-a-time scan to the plain one
// for every byte value at every offset of a word.
func TestSkipPrintable(t *testing.T) {
	t.Parallel()
	naive := func(s string, i int) int {
		for ; i < len(s); i++ {
			if s[i] < 0x20 || s[i] >= 0x7f {
				return i
			}
		}
		return i
	}
	base := []byte("abcdefghijklmnopqrstuvwx")
	for c := range 256 {
		for pos := range 2 * len(base) {
			b := append([]byte(nil), base...)
			b[pos%len(base)] = byte(c)
			if pos >= len(base) && pos%len(base)+1 < len(b) {
				b[pos%len(base)+1] = 0xff // a carry into the next byte
			}
			s := string(b)
			for from := range 3 {
				if got, want := skipPrintable(s, from), naive(s, from); got != want {
					t.Fatalf("skipPrintable(%q, %d) = %d, want %d", s, from, got, want)
				}
			}
		}
	}
}
