package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/fastflow-dev/fastflow/status/logs"
)

// screen is a small terminal, enough to see what a line shows once a
// terminal has interpreted it: printable runes overwrite the cell under
// the cursor; CR, BS, HT, LF, the cursor movements of CSI (A B C D G H f),
// erasing (K, J), save and restore (ESC 7 / 8, CSI s / u) move or clear;
// OSC and the other strings, SGR and the other sequences show nothing.
// Like VTE it reads U+009B as CSI and U+009D as OSC. At the right margin
// a printable rune wraps to the next row, unless autowrap was turned off,
// and a tab stays in the last column, so the next rune overwrites it.
type screen struct {
	cols       int
	rows       [][]rune
	x, y       int
	wrapNext   bool // the last column is written: the next rune wraps
	noWrap     bool // DECAWM reset
	savedX     int
	savedY     int
	savedValid bool
}

func newScreen(cols int) *screen { return &screen{cols: cols, rows: [][]rune{nil}} }

func (sc *screen) row() []rune {
	for sc.y >= len(sc.rows) {
		sc.rows = append(sc.rows, nil)
	}
	return sc.rows[sc.y]
}

func (sc *screen) put(r rune) {
	if sc.wrapNext {
		sc.wrapNext = false
		sc.x, sc.y = 0, sc.y+1
	}
	row := sc.row()
	for len(row) <= sc.x {
		row = append(row, ' ')
	}
	row[sc.x] = r
	sc.rows[sc.y] = row
	if sc.x == sc.cols-1 {
		sc.wrapNext = !sc.noWrap
	} else {
		sc.x++
	}
}

// invisibleRune: drawn as nothing (combining marks attach to the rune
// before them, which is enough here: they hide no cell).
func invisibleRune(r rune) bool {
	return unicode.In(r, unicode.Cf, unicode.Mn, unicode.Me, unicode.Variation_Selector, unicode.Other_Default_Ignorable_Code_Point)
}

// csiArgs parses the numeric parameters of a CSI, with def for a missing
// one.
func csiArgs(p string, def int) []int {
	var out []int
	for _, f := range strings.FieldsFunc(p+";", func(r rune) bool { return r == ';' }) {
		n := 0
		for _, c := range f {
			if c >= '0' && c <= '9' && n < 10000 {
				n = n*10 + int(c-'0')
			}
		}
		if n == 0 {
			n = def
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		out = []int{def}
	}
	return append(out, def)
}

func (sc *screen) csi(params string, final rune) {
	a := csiArgs(strings.TrimLeft(params, "<=>?"), 1)
	sc.wrapNext = false
	switch final {
	case 'A':
		sc.y = max(0, sc.y-a[0])
	case 'B':
		sc.y += a[0]
	case 'C':
		sc.x = min(sc.cols-1, sc.x+a[0])
	case 'D':
		sc.x = max(0, sc.x-a[0])
	case 'G':
		sc.x = min(sc.cols-1, a[0]-1)
	case 'H', 'f':
		sc.y, sc.x = a[0]-1, min(sc.cols-1, a[1]-1)
	case 'K':
		row := sc.row()
		switch csiArgs(params, 0)[0] {
		case 0:
			if sc.x < len(row) {
				sc.rows[sc.y] = row[:sc.x]
			}
		case 1:
			for i := 0; i <= sc.x && i < len(row); i++ {
				row[i] = ' '
			}
		case 2:
			sc.rows[sc.y] = nil
		}
	case 'J':
		if csiArgs(params, 0)[0] == 2 {
			sc.rows = [][]rune{nil}
		}
	case 's':
		sc.savedX, sc.savedY, sc.savedValid = sc.x, sc.y, true
	case 'u':
		if sc.savedValid {
			sc.x, sc.y = sc.savedX, sc.savedY
		}
	case 'l', 'h':
		if params == "?7" {
			sc.noWrap = final == 'l'
		}
	}
}

// write interprets s.
func (sc *screen) write(s string) {
	rs := []rune(strings.ToValidUTF8(s, "\uFFFD"))
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case r == '\n':
			sc.x, sc.y, sc.wrapNext = 0, sc.y+1, false
		case r == '\r':
			sc.x, sc.wrapNext = 0, false
		case r == '\b':
			sc.x, sc.wrapNext = max(0, sc.x-1), false
		case r == '\t':
			sc.x, sc.wrapNext = min(sc.cols-1, (sc.x/8+1)*8), false
		case r == 0x1b && i+1 < len(rs) && rs[i+1] == '[' || r == 0x9b:
			j := i + 1
			if r == 0x1b {
				j++
			}
			k := j
			for k < len(rs) && rs[k] >= 0x20 && rs[k] <= 0x3f {
				k++
			}
			if k < len(rs) && rs[k] >= 0x40 && rs[k] <= 0x7e {
				sc.csi(string(rs[j:k]), rs[k])
			}
			i = k
		case r == 0x1b && i+1 < len(rs) && strings.ContainsRune("]PX^_", rs[i+1]) || r == 0x9d:
			for i++; i < len(rs) && rs[i] != 0x07 && rs[i] != 0x9c && !(rs[i] == 0x1b && i+1 < len(rs) && rs[i+1] == '\\'); i++ {
			}
			if i < len(rs) && rs[i] == 0x1b {
				i++
			}
		case r == 0x1b && i+1 < len(rs) && rs[i+1] == '7':
			sc.savedX, sc.savedY, sc.savedValid = sc.x, sc.y, true
			i++
		case r == 0x1b && i+1 < len(rs) && rs[i+1] == '8':
			if sc.savedValid {
				sc.x, sc.y = sc.savedX, sc.savedY
			}
			i++
		case r == 0x1b:
			for i+1 < len(rs) && rs[i+1] >= 0x20 && rs[i+1] <= 0x2f {
				i++
			}
			if i+1 < len(rs) && rs[i+1] >= 0x30 && rs[i+1] <= 0x7e {
				i++
			}
		case r < 0x20 || r >= 0x7f && r <= 0x9f:
		case invisibleRune(r):
		default:
			sc.put(r)
		}
	}
}

// text is the screen's rows, trailing blanks trimmed.
func (sc *screen) text() string {
	var b strings.Builder
	for _, row := range sc.rows {
		b.WriteString(strings.TrimRight(string(row), " "))
		b.WriteByte('\n')
	}
	return b.String()
}

// TestScreen pins the terminal model on the tricks it is for.
func TestScreen(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		cols     int
		in, want string
	}{
		{80, "XXXXXXXXXX\rsecret", "secretXXXX\n"},
		{80, "secX\bret", "secret\n"},
		{80, "sXcret\r\x1b[1Ce", "secret\n"},
		{80, "abc\x1b[2Dxy", "axy\n"},
		{80, "s\x1b[31me\x1b]0;title\x07c\u200bret", "secret\n"},
		{80, "se\u009b1Ccret", "se cret\n"},
		{6, "secreX\tt", "secret\n"},
		{6, "abcdefgh", "abcdef\ngh\n"},
	} {
		sc := newScreen(tt.cols)
		sc.write(tt.in)
		if got := sc.text(); got != tt.want {
			t.Errorf("%d columns, %q shows %q, want %q", tt.cols, tt.in, got, tt.want)
		}
	}
}

// maskAttack is one line of status/logs' attack corpus.
type maskAttack struct {
	Name, Secret, Line string
}

func readMaskAttacks(t testing.TB) ([]maskAttack, []string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "status", "logs", "testdata", "mask_attacks.json"))
	if err != nil {
		t.Fatal(err)
	}
	var as []maskAttack
	if err := json.Unmarshal(b, &as); err != nil {
		t.Fatal(err)
	}
	if len(as) < 100 {
		t.Fatalf("only %d attacks: the corpus proves little", len(as))
	}
	var secrets []string
	for _, a := range as {
		if len(secrets) == 0 || secrets[len(secrets)-1] != a.Secret {
			secrets = append(secrets, a.Secret)
		}
	}
	return as, secrets
}

// secretForms are the forms of s nothing may show: the value and the
// encodings the masker covers.
func secretForms(s string) []string {
	js, _ := json.Marshal(s)
	return []string{
		s, base64.StdEncoding.EncodeToString([]byte(s)), base64.RawStdEncoding.EncodeToString([]byte(s)),
		base64.URLEncoding.EncodeToString([]byte(s)), base64.RawURLEncoding.EncodeToString([]byte(s)),
		url.QueryEscape(s), url.PathEscape(s), string(js[1 : len(js)-1]),
	}
}

// onScreen returns the secret form that out shows in a terminal cols
// wide, or "".
func onScreen(out string, cols int, secrets []string) string {
	sc := newScreen(cols)
	sc.write(out)
	text := sc.text()
	for _, s := range secrets {
		for _, f := range secretForms(s) {
			if strings.Contains(text, f) {
				return f
			}
		}
	}
	return ""
}

// termBad is what termText must never let through to a terminal: every
// control but newline and the ESC of SGR (tabs are expanded), the C1 and
// bidirectional controls, the line and paragraph separators.
var termBad = regexp.MustCompile("[\x00-\x09\x0b-\x1a\x1c-\x1f\x7f\u0080-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")

// TestTermText: what the CLI prints of a line holds no control a terminal
// would act on but colours, and a terminal shows exactly the text the
// masker looked for secrets in (tabs as spaces): for the whole attack
// corpus, raw as well as masked.
func TestTermText(t *testing.T) {
	t.Parallel()
	attacks, secrets := readMaskAttacks(t)
	m := logs.NewMasker(secrets)
	for _, a := range attacks {
		for _, line := range []string{a.Line, m.Mask(a.Line), "pre\tfix " + a.Line + "\tend"} {
			out := termText(line)
			if loc := termBad.FindStringIndex(out); loc != nil {
				t.Errorf("%s: termText(%q) = %q holds %q", a.Name, line, out, out[loc[0]:loc[1]])
			}
			if rest := sgrOnly.ReplaceAllString(out, ""); strings.IndexByte(rest, 0x1b) >= 0 {
				t.Errorf("%s: termText(%q) = %q holds an escape sequence other than SGR", a.Name, line, out)
			}
			sc := newScreen(10000)
			sc.write(out)
			want := expandTabs(logs.Visible(line)) + "\n"
			if got := sc.text(); got != strings.TrimRight(want, " \n")+"\n" {
				t.Errorf("%s: a terminal shows\n %q\nof termText(%q); the masker saw\n %q", a.Name, got, line, want)
			}
		}
		if f := onScreen(termText(m.Mask(a.Line)), 80, secrets); f != "" {
			t.Errorf("%s: the CLI shows %q of %q in an 80-column terminal", a.Name, f, a.Line)
		}
	}
	// A margin tab cannot overwrite the last column: it is spaces.
	if got := termText("secreX\tt"); got != "secreX  t" {
		t.Errorf("termText expanded the tab to %q", got)
	}
	if got := termText("\x1b[31mred"); got != "\x1b[31mred\x1b[0m" {
		t.Errorf("termText(coloured) = %q, want a reset at the end", got)
	}
}

var sgrOnly = regexp.MustCompile("\x1b\\[[0-9;:]*m")

// expandTabs is s with tabs as spaces to the next multiple of eight runes.
func expandTabs(s string) string {
	var b strings.Builder
	col := 0
	for _, r := range s {
		if r == '\t' {
			n := 8 - col%8
			b.WriteString(strings.Repeat(" ", n))
			col += n
			continue
		}
		b.WriteRune(r)
		col++
	}
	return b.String()
}

// TestCopyTermLines: `fastflow logs ID` prints each stored line as
// termText makes it, the last one without a newline as it came.
func TestCopyTermLines(t *testing.T) {
	t.Parallel()
	in := "2026-01-01T00:00:00Z stdout a\rb\x1b[2K\n2026-01-01T00:00:01Z stderr \x1b[1mc\n\npartial\x00"
	var out bytes.Buffer
	if err := copyTermLines(&out, strings.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	want := "2026-01-01T00:00:00Z stdout ab\n2026-01-01T00:00:01Z stderr \x1b[1mc\x1b[0m\n\npartial"
	if out.String() != want {
		t.Errorf("copyTermLines:\n got %q\nwant %q", out.String(), want)
	}
}

// FuzzCLITerminal: whatever a pipeline prints, the CLI shows no secret in a
// terminal once the line is masked, and prints nothing a terminal acts on
// but colours.
func FuzzCLITerminal(f *testing.F) {
	attacks, secrets := readMaskAttacks(f)
	for _, a := range attacks[:20] {
		f.Add(a.Line)
	}
	f.Add("XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX8675X\t9\x1b[?7l")
	m := logs.NewMasker(secrets)
	f.Fuzz(func(t *testing.T, line string) {
		out := termText(m.Mask(line))
		if loc := termBad.FindStringIndex(out); loc != nil {
			t.Fatalf("termText(Mask(%q)) = %q holds %q", line, out, out[loc[0]:loc[1]])
		}
		for _, cols := range []int{80, 4096} {
			if f := onScreen(out, cols, secrets); f != "" {
				t.Fatalf("termText(Mask(%q)) shows %q in a %d-column terminal", line, f, cols)
			}
		}
	})
}

// attackPipeline is a pipeline that prints the attack corpus (from a file
// beside it), each line alone and between other text, and then its
// secrets from the environment; it writes through sys.stdout.buffer, so
// Python changes no byte. It sleeps first, for a browser to open the run
// page, and last, to keep the run live while the page catches up.
func attackPipeline(t testing.TB, attacks []maskAttack, secrets []string, sleep float64) map[string]string {
	t.Helper()
	names := make([]string, len(secrets))
	for i := range secrets {
		names[i] = fmt.Sprintf("LEAK_%d", i)
	}
	lines := make([]string, len(attacks))
	for i, a := range attacks {
		lines[i] = a.Line
	}
	corpus, err := json.Marshal(lines)
	if err != nil {
		t.Fatal(err)
	}
	pipelineJSON, err := json.Marshal(map[string]any{"secrets": names})
	if err != nil {
		t.Fatal(err)
	}
	main := fmt.Sprintf(`import json, os, sys, time
time.sleep(%g)
w = sys.stdout.buffer.write
for line in json.load(open(os.path.join(os.path.dirname(__file__), "corpus.json"), encoding="utf-8")):
    w(line.encode("utf-8", "surrogatepass") + b"\n")
    w(("before " + line + " after").encode("utf-8", "surrogatepass") + b"\n")
w(("env check: " + "|".join(os.environ.get(n, "<unset>") for n in %q.split(","))).encode() + b"\n")
sys.stdout.flush()
time.sleep(%g)
`, sleep, strings.Join(names, ","), sleep/2)
	return map[string]string{
		"attacks/main.py":       main,
		"attacks/pipeline.json": string(pipelineJSON),
		"attacks/corpus.json":   string(corpus),
	}
}

// setLeakSecrets stores the corpus secrets as LEAK_0, LEAK_1, ... with
// the CLI.
func setLeakSecrets(s *testServer, secrets []string) {
	for i, v := range secrets {
		s.cli(v+"\n", s.environ, "secret", "set", fmt.Sprintf("LEAK_%d", i))
	}
}

// TestCLIShowsNoSecret runs a pipeline on Docker that prints the attack
// corpus with real secrets, and reads its log with the CLI as a user
// would, live (run --follow, over SSE) and after the end (logs, from the
// download; logs -f, over SSE again): a terminal of 80 or 4096 columns
// shows no secret, and the CLI prints nothing a terminal acts on but
// colours. The server's own formats are read too, raw as curl would show
// them in a terminal.
func TestCLIShowsNoSecret(t *testing.T) {
	attacks, secrets := readMaskAttacks(t)
	key, _, _ := (&testServer{t: t}).cli("", nil, "keygen")
	srv := startServer(t, attackPipeline(t, attacks, secrets, 0), []string{"ENCRYPTION_KEY=" + strings.TrimSpace(key),
		"LOG_STREAM_RATE_LIMIT=100000"}, func(s *testServer) { setLeakSecrets(s, secrets) })

	out, stderr, code := srv.cli("", srv.client, "run", "attacks", "--follow")
	if code != 0 {
		t.Fatalf("run attacks --follow: exit %d\n%s", code, stderr)
	}
	if want := "env check: " + strings.Repeat("***|", len(secrets)-1) + "***"; !strings.Contains(out, want) {
		t.Fatalf("the pipeline did not get its secrets masked (want %q):\n%.2000s", want, out)
	}
	// "attacks: run <id> pending"
	fields := strings.Fields(stderr)
	if len(fields) < 3 || fields[1] != "run" {
		t.Fatalf("run printed %q", stderr)
	}
	id := fields[2]
	if n := strings.Count(out, "\n"); n < 2*len(attacks) {
		t.Fatalf("run --follow printed %d lines, want %d", n, 2*len(attacks)+1)
	}
	logsOut, _, code := srv.cli("", srv.client, "logs", id)
	if code != 0 {
		t.Fatalf("logs %s: exit %d", id, code)
	}
	followOut, _, code := srv.cli("", srv.client, "logs", id, "-f")
	if code != 0 {
		t.Fatalf("logs %s -f: exit %d", id, code)
	}
	views := map[string]string{"run --follow": out, "logs": logsOut, "logs -f": followOut}

	// The server's formats, as curl prints them.
	for _, path := range []string{"/logs", "/logs?format=text", "/logs?download=1", "/logs?tail=1000", "/logs/stream"} {
		req, err := http.NewRequest("GET", "http://"+srv.addr+"/api/runs/"+id+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+strings.TrimPrefix(srv.client[1], "FASTFLOW_TOKEN="))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %v", path, resp.StatusCode, err)
		}
		views["curl "+path] = string(body)
	}
	for name, v := range views {
		for _, cols := range []int{80, 4096} {
			if f := onScreen(v, cols, secrets); f != "" {
				t.Errorf("%s shows %q in a %d-column terminal", name, f, cols)
			}
		}
		for _, s := range secrets {
			for _, f := range secretForms(s) {
				if strings.Contains(v, f) {
					t.Errorf("%s holds %q", name, f)
				}
			}
		}
		if name == "run --follow" || name == "logs" || name == "logs -f" {
			if loc := termBad.FindStringIndex(v); loc != nil {
				t.Errorf("%s printed %q, which a terminal acts on", name, v[loc[0]:loc[1]])
			}
		}
		if rest := sgrOnly.ReplaceAllString(v, ""); strings.IndexByte(rest, 0x1b) >= 0 {
			t.Errorf("%s holds an escape sequence other than SGR", name)
		}
	}
	var sink bytes.Buffer
	if err := run(context.Background(), []string{"logs", "no-such-run"}, nil, &sink, &sink, srv.client); err == nil {
		t.Error("logs of a run that does not exist succeeded")
	}
	if !utf8.ValidString(out) {
		t.Error("run --follow printed invalid UTF-8")
	}
}
