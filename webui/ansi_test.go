package webui

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"html"
	"html/template"
	"io"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/fastflow-dev/fastflow/status/logs"
)

// ansiCase is one input of the ANSI renderer and its markup.
type ansiCase struct {
	Name string `json:"name"`
	In   string `json:"in"`
	Want string `json:"want"`
}

// ansiCases are the renderer's cases; testdata/ansi_cases.json carries
// them to the browser test that holds app.js's renderer to the same
// answers (cmd/fastflow TestBrowserANSIMatchesServer).
func ansiCases() []ansiCase {
	return []ansiCase{
		{"empty", "", ""},
		{"plain", "hello world", "hello world"},
		{"escaped", `<b>&"'`, "&lt;b&gt;&amp;&#34;&#39;"},
		{"colour and reset", "\x1b[31mred\x1b[0m ok", `<span class="ansi-fg-1">red</span> ok`},
		{"empty params reset", "a\x1b[33mb\x1b[mc", `a<span class="ansi-fg-3">b</span>c`},
		{"left open at the end", "\x1b[1;32mx", `<span class="ansi-fg-2 ansi-bold">x</span>`},
		{"bright and background", "\x1b[91mA\x1b[102mB", `<span class="ansi-fg-9">A</span><span class="ansi-fg-9 ansi-bg-10">B</span>`},
		{"all attributes", "\x1b[37;40;1;2;3;4mA", `<span class="ansi-fg-7 ansi-bg-0 ansi-bold ansi-dim ansi-italic ansi-underline">A</span>`},
		{"bright range ends", "\x1b[90mA\x1b[97mB\x1b[100mC\x1b[107mD", `<span class="ansi-fg-8">A</span><span class="ansi-fg-15">B</span><span class="ansi-fg-15 ansi-bg-8">C</span><span class="ansi-fg-15 ansi-bg-15">D</span>`},
		{"22 ends bold and dim", "\x1b[1;2mA\x1b[22mB", `<span class="ansi-bold ansi-dim">A</span>B`},
		{"23 and 24", "\x1b[3;4mA\x1b[23mB\x1b[24mC", `<span class="ansi-italic ansi-underline">A</span><span class="ansi-underline">B</span>C`},
		{"39 and 49", "\x1b[31;41mA\x1b[39mB\x1b[49mC", `<span class="ansi-fg-1 ansi-bg-1">A</span><span class="ansi-bg-1">B</span>C`},
		{"reset in the middle of params", "\x1b[1;0;31mA", `<span class="ansi-fg-1">A</span>`},
		{"empty param is a reset", "\x1b[1;;31mA", `<span class="ansi-fg-1">A</span>`},
		{"same style does not reopen", "\x1b[31mA\x1b[31mB\x1b[1;22mC", `<span class="ansi-fg-1">ABC</span>`},
		{"no empty spans", "\x1b[31m\x1b[0m\x1b[1m", ""},
		{"256 colours below 16", "\x1b[38;5;9mA\x1b[48;5;4mB", `<span class="ansi-fg-9">A</span><span class="ansi-fg-9 ansi-bg-4">B</span>`},
		{"256 colours above 15 ignored", "\x1b[31;38;5;200mA\x1b[48;5;16mB", `<span class="ansi-fg-1">AB</span>`},
		{"256 colour argument consumed", "\x1b[38;5;4mA", `<span class="ansi-fg-4">A</span>`},
		{"truecolour consumed", "\x1b[38;2;1;2;4mA", "A"},
		{"truecolour then more", "\x1b[48;2;255;0;0;1mA", `<span class="ansi-bold">A</span>`},
		{"truncated extended colour", "\x1b[38;5mA\x1b[38mB", "AB"},
		{"underline colour consumed", "\x1b[58;5;4mA\x1b[58;2;1;2;3mB", "AB"},
		{"colon 256 colour", "\x1b[38:5:3mA", `<span class="ansi-fg-3">A</span>`},
		{"colon 256 colour without an index", "\x1b[38:5mA", `A`},
		{"colon truecolour", "\x1b[38:2::1:2:4mA", "A"},
		{"colon underline styles", "\x1b[4:3mA\x1b[4:0mB", `<span class="ansi-underline">A</span>B`},
		{"unknown SGR ignored", "\x1b[5;7;9;53mA", "A"},
		{"huge number", "\x1b[99999999999999999999999mA", "A"},
		{"other CSI dropped", "\x1b[2K\x1b[1Gprogress \x1b[3A50%", "progress 50%"},
		{"private CSI dropped", "\x1b[?25lX\x1b[?25h", "X"},
		{"private m is not SGR", "\x1b[>4;1mA", "A"},
		{"CSI with intermediate", "\x1b[1 qA", "A"},
		{"OSC with BEL", "\x1b]0;title\x07text", "text"},
		{"OSC with ST", "\x1b]8;;https://x.test/\x1b\\link\x1b]8;;\x1b\\", "link"},
		{"OSC cut by a new ESC", "\x1b]0;t\x1b[31mA", `<span class="ansi-fg-1">A</span>`},
		{"unterminated OSC", "a\x1b]0;title <b>", "a"},
		{"DCS dropped", "\x1bPq#0;2;0;0;0\x1b\\A", "A"},
		{"charset switch", "\x1b(Bx\x1b)0y", "xy"},
		{"two-byte escapes", "\x1b7a\x1b8b\x1b=c", "abc"},
		{"lone ESC at the end", "a\x1b", "a"},
		{"lone ESC before text", "a\x1b\x1b[31mb", `a<span class="ansi-fg-1">b</span>`},
		{"ESC before non-ASCII", "a\x1bé", "aé"},
		{"unterminated CSI", "x\x1b[31", "x"},
		{"bare CSI", "x\x1b[", "x"},
		{"unterminated nF", "x\x1b(", "x"},
		{"CSI broken by a control byte", "\x1b[31\x01mX", "mX"},
		{"CSI broken by non-ASCII", "\x1b[3éX", "éX"},
		{"markup inside colour", "\x1b[31m<img src=x onerror=alert(1)>\x1b[0m", `<span class="ansi-fg-1">&lt;img src=x onerror=alert(1)&gt;</span>`},
		{"markup in an OSC", "\x1b]8;;\"><script>alert(1)</script>\x07x", "x"},
		{"quote breaking attempt", "\x1b[31m\"><span onclick=x>", `<span class="ansi-fg-1">&#34;&gt;&lt;span onclick=x&gt;</span>`},
		{"invalid UTF-8", "a\xffb\x1b[1mc\xc3", "a\uFFFDb<span class=\"ansi-bold\">c\uFFFD</span>"},
		{"control characters", "a\x00b\x07c\td\re\x7f", "abc\tde"},
		{"non-ASCII text kept", "\x1b[32m✓\x1b[0m grün 日本", `<span class="ansi-fg-2">✓</span> grün 日本`},
		// What the masker assumes a viewer shows (logs.Neutralize): a
		// renderer that showed more could show a secret it did not see.
		{"carriage return and backspace dropped", "50%\r60%\bX", "50%60%X"},
		{"C1 controls dropped", "a\u0085b\u009b31mc\u009d\u0090d", "ab31mcd"},
		{"bidi controls dropped", "\u202eabc\u202c \u2067d\u2069 \u200ee\u200f\u061cf\u202a\u202b\u202d\u2066\u2068", "abc d ef"},
		{"line and paragraph separators dropped", "a\u2028b\u2029c", "abc"},
		{"zero-width characters kept", "a\u200bb\u200dc\ufeffd\u00ade\ufe0f", "a\u200bb\u200dc\ufeffd\u00ade\ufe0f"},
		{"combining marks kept", "e\u0301 s\u0332", "e\u0301 s\u0332"},
		{"noncharacters shown as U+FFFD", "a\ufffeb\uffffc", "a\ufffdb\ufffdc"},
		{"split by SGR, shown joined", "se\x1b[0mcr\x1b[1;31met", `secr<span class="ansi-fg-1 ansi-bold">et</span>`},
		{"split by a cursor move, shown joined", "sec\x1b[1Dret", "secret"},
		{"masked span keeps the colours after it", "pw=***\x1b[31m\x1b[0m ok", "pw=*** ok"},
		{"masked span inside colour", "\x1b[33mpw=***\x1b[1m tail", `<span class="ansi-fg-3">pw=***</span><span class="ansi-fg-3 ansi-bold"> tail</span>`},
		{"private SGR between text", "a\x1b[?1mb\x1b[=5mc", "abc"},
		{"every C0 control", "a\x01\x02\x03\x04\x05\x06\x08\x0b\x0c\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1c\x1d\x1e\x1fb", "ab"},
		{"invalid UTF-8 around a dropped sequence", "a\xe2\x1b[K\x80\x8bb", "a\uFFFD\uFFFD\uFFFDb"},
	}
}

func TestAnsiHTML(t *testing.T) {
	t.Parallel()
	for _, tt := range ansiCases() {
		t.Run(tt.Name, func(t *testing.T) {
			t.Parallel()
			got := ansiHTML(tt.In)
			if string(got) != tt.Want {
				t.Errorf("ansiHTML(%q)\n got %s\nwant %s", tt.In, got, tt.Want)
			}
			checkAnsiMarkup(t, tt.In, got)
		})
	}
}

var ansiClassPattern = regexp.MustCompile(`^ansi-((fg|bg)-([0-9]|1[0-5])|bold|dim|italic|underline)$`)

// checkAnsiMarkup checks that out is text and flat <span class="ansi-…">
// elements only, well-formed, valid UTF-8, with no escape characters left.
func checkAnsiMarkup(t *testing.T, in string, out template.HTML) {
	t.Helper()
	if !utf8.ValidString(string(out)) {
		t.Fatalf("ansiHTML(%q) is not valid UTF-8: %q", in, out)
	}
	d := xml.NewDecoder(strings.NewReader("<line>" + string(out) + "</line>"))
	d.Strict = true
	depth := 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("ansiHTML(%q) = %q: %v", in, out, err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			depth++
			if tok.Name.Local == "line" && depth == 1 {
				continue
			}
			if tok.Name.Local != "span" || depth != 2 || len(tok.Attr) != 1 || tok.Attr[0].Name.Local != "class" {
				t.Fatalf("ansiHTML(%q) = %q: unexpected or nested element %v", in, out, tok)
			}
			for _, c := range strings.Fields(tok.Attr[0].Value) {
				if !ansiClassPattern.MatchString(c) {
					t.Fatalf("ansiHTML(%q) = %q: class %q", in, out, c)
				}
			}
		case xml.EndElement:
			depth--
		case xml.CharData:
			if strings.ContainsRune(string(tok), 0x1b) {
				t.Fatalf("ansiHTML(%q) = %q: ESC left in the text", in, out)
			}
		default:
			t.Fatalf("ansiHTML(%q) = %q: unexpected %T", in, out, tok)
		}
	}
}

// TestAnsiEscapeLikeTemplate pins the escaper to html/template's for the
// text it is meant for.
func TestAnsiEscapeLikeTemplate(t *testing.T) {
	t.Parallel()
	for _, s := range []string{
		"", "plain", `<script>alert("x")</script>`, `a & b 'c' "d" <e>`, "tab\there", "ünïcödé ✓ 日本", "&amp;&#39;",
	} {
		want := template.HTMLEscapeString(s)
		if got := string(appendHTMLText(nil, s)); got != want {
			t.Errorf("%q: got %q, html/template %q", s, got, want)
		}
		if got := string(ansiHTML(s)); got != want {
			t.Errorf("ansiHTML(%q) = %q, html/template %q", s, got, want)
		}
	}
}

// checkNeedsEscape: the fast path must agree with the escaper.
func checkNeedsEscape(t *testing.T, s string) {
	t.Helper()
	if got, want := needsHTMLEscape(s), string(appendHTMLText(nil, s)) != s; got != want {
		t.Errorf("needsHTMLEscape(%q) = %v, want %v", s, got, want)
	}
}

func TestAnsiNeedsEscape(t *testing.T) {
	t.Parallel()
	for _, s := range []string{
		"", "plain", "tab\tand\nnewline", "é<script>", "日本&", "ü\"", "ok ✓", "a\x00", "\x7f", "\xff", "é\xff",
		"\uFFFE", "x\uFFFF", "\uFFFD", "\r", "\x1b[31m", "'",
	} {
		checkNeedsEscape(t, s)
	}
}

func FuzzAnsiHTML(f *testing.F) {
	for _, s := range []string{
		"", "plain", "\x1b[31mred\x1b[0m", "\x1b[38;5;196;1mX", "\x1b]0;t\x07x", "\x1b[", "\x1b",
		"\x1b[1;2;3;4;38;2;1;2;3;48;5;3mA\x1b[22;23;24;39;49mB", "<img onerror=x>\x1b[31m\"'&",
		"\xff\xfe\x1b[\xff", "\x1bP\x1b\\", "\x1b(\x1b[31m", "\x1b[4:3:1m\x1b[38:5mz",
		"se\x1b[0mcr\u200bet\u0085\u202e", "a\xe2\x1b[K\x80\x8bb", "\u2067x\u2069\ufffe\u0332",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := ansiHTML(s)
		checkAnsiMarkup(t, s, out)
		checkNeedsEscape(t, s)
		checkShowsVisible(t, s, out)
	})
}

// pageText is what a browser shows of ansiHTML's markup: the text without
// tags, entities decoded, and without the runes it draws as nothing
// (format characters, combining marks, variation selectors, the other
// default-ignorable code points).
func pageText(markup string) string {
	text := html.UnescapeString(ansiTagPattern.ReplaceAllString(markup, ""))
	return strings.Map(func(r rune) rune {
		if unicode.In(r, unicode.Cf, unicode.Mn, unicode.Me, unicode.Variation_Selector, unicode.Other_Default_Ignorable_Code_Point) {
			return -1
		}
		return r
	}, text)
}

var ansiTagPattern = regexp.MustCompile(`</?span[^>]*>`)

// checkShowsVisible: the page shows exactly the text the masker looks for
// secrets in (logs.Visible), noncharacters aside, which the page shows as
// U+FFFD: no more, so that it cannot show a secret the masker missed.
func checkShowsVisible(t *testing.T, in string, out template.HTML) {
	t.Helper()
	want := strings.NewReplacer("\uFFFE", "\uFFFD", "\uFFFF", "\uFFFD").Replace(logs.Visible(in))
	if got := pageText(string(out)); got != want {
		t.Fatalf("ansiHTML(%q) = %q shows %q; the masker saw %q", in, out, got, want)
	}
}

func TestAnsiShowsWhatTheMaskerSaw(t *testing.T) {
	t.Parallel()
	for _, tt := range ansiCases() {
		checkShowsVisible(t, tt.In, ansiHTML(tt.In))
	}
}

func BenchmarkAnsiHTML(b *testing.B) {
	line := "\x1b[32m✓\x1b[0m test_parse \x1b[2m(0.12s)\x1b[22m \x1b[1;31mFAILED\x1b[0m: expected <nil> got \"x\" & more"
	b.ReportAllocs()
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		ansiHTML(line)
	}
}

// TestAnsiCasesFile keeps testdata/ansi_cases.json equal to ansiCases,
// less the inputs that are not valid UTF-8 (JSON cannot carry them to the
// browser unchanged); rewrite it with -update.
func TestAnsiCasesFile(t *testing.T) {
	t.Parallel()
	var cases []ansiCase
	for _, c := range ansiCases() {
		if utf8.ValidString(c.In) {
			cases = append(cases, c)
		}
	}
	b, err := json.MarshalIndent(cases, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	checkGoldenFile(t, filepath.Join("testdata", "ansi_cases.json"), asciiJSON(b)+"\n")
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
