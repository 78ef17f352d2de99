package webui

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/fastflow-dev/fastflow/runtime"
	"github.com/fastflow-dev/fastflow/status"
	"github.com/fastflow-dev/fastflow/status/logs"
)

// maskAttack is one line of status/logs' attack corpus: a way to print a
// secret so that its bytes do not hold it but a viewer would show it.
type maskAttack struct {
	Name   string `json:"name"`
	Secret string `json:"secret"`
	Line   string `json:"line"`
}

// readMaskAttacks reads the corpus (kept by status/logs
// TestMaskAttacksFile).
func readMaskAttacks(t testing.TB) ([]maskAttack, []string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "status", "logs", "testdata", "mask_attacks.json"))
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

// secretForms are the forms of s no view may show: the value and the
// encodings the masker covers.
func secretForms(s string) []string {
	js, _ := json.Marshal(s)
	return []string{
		s, base64.StdEncoding.EncodeToString([]byte(s)), base64.RawStdEncoding.EncodeToString([]byte(s)),
		base64.URLEncoding.EncodeToString([]byte(s)), base64.RawURLEncoding.EncodeToString([]byte(s)),
		url.QueryEscape(s), url.PathEscape(s), string(js[1 : len(js)-1]),
	}
}

var (
	sgrPattern = regexp.MustCompile("\x1b\\[[0-9;:]*m")
	// termOnly is what may reach a terminal besides text: tab, newline
	// and SGR. Anything else could move the cursor and overwrite text.
	termBadPattern = regexp.MustCompile("[\x00-\x08\x0b-\x1a\x1c-\x1f\x7f\u0080-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
)

// dropInvisible removes what a browser or a terminal draws as nothing:
// controls, format characters, combining marks, variation selectors, the
// other default-ignorable code points.
func dropInvisible(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.In(r, unicode.Cc, unicode.Cf, unicode.Mn, unicode.Me, unicode.Variation_Selector, unicode.Other_Default_Ignorable_Code_Point) &&
			r != '\n' && r != '\t' {
			return -1
		}
		return r
	}, s)
}

// checkNoSecret fails when what a viewer sees of body shows a form of a
// secret: the bytes, the bytes as a terminal shows them (SGR hidden), as a
// text viewer shows them (ESC hidden), each without invisible runes.
func checkNoSecret(t *testing.T, view, body string, secrets []string) {
	t.Helper()
	seen := map[string]string{
		"bytes":                   body,
		"in a terminal":           dropInvisible(sgrPattern.ReplaceAllString(body, "")),
		"in a text viewer":        dropInvisible(strings.ReplaceAll(body, "\x1b", "")),
		"bytes without invisible": dropInvisible(body),
	}
	for how, text := range seen {
		for _, s := range secrets {
			for _, f := range secretForms(s) {
				if i := strings.Index(text, f); i >= 0 {
					t.Errorf("%s %s shows %q: …%q…", view, how, f, text[max(0, i-40):min(len(text), i+len(f)+40)])
				}
			}
		}
	}
	if loc := termBadPattern.FindStringIndex(body); loc != nil {
		t.Errorf("%s holds %q, which a terminal or browser would interpret: …%q…", view, body[loc[0]:loc[1]],
			body[max(0, loc[0]-40):min(len(body), loc[1]+40)])
	}
	if i := strings.IndexByte(sgrPattern.ReplaceAllString(body, ""), 0x1b); i >= 0 {
		t.Errorf("%s holds an escape sequence other than SGR", view)
	}
}

// TestMaskedInEveryView writes the attack corpus through a run's masking
// log writer, as the operator does, and reads the log back through every
// format the server has: no view shows a secret or its encodings, and none
// holds anything a terminal or a browser would interpret but colours.
func TestMaskedInEveryView(t *testing.T) {
	t.Parallel()
	attacks, secrets := readMaskAttacks(t)
	// No rate limit: the stream is to carry every line, not a gap.
	e := newAPIEnv(t, apiEnvOptions{srvCfg: func(c *Config) { c.LogStreamRateLimit = 1 << 20 }})
	ctx := context.Background()
	start := time.Date(2026, 11, 27, 5, 0, 0, 0, time.UTC)
	run := status.Run{ID: "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a66", Pipeline: "hello", Status: status.RunSuccess,
		Trigger: status.TriggerManual, TriggeredBy: "alice", Attempt: 1, Revision: e.op.SyncState().Live.Revision,
		QueuedAt: start, StartedAt: start, FinishedAt: start.Add(time.Minute)}
	code := 0
	run.ExitCode = &code
	run.LogPath = filepath.Join(t.TempDir(), run.ID+".log")
	w, err := logs.Open(run.LogPath, logs.Options{Masker: logs.NewMasker(secrets)})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, a := range attacks {
		for _, text := range []string{a.Line, "before " + a.Line + " after"} {
			stream := logs.StreamStdout
			if n%3 == 0 {
				stream = logs.StreamStderr
			}
			if err := w.Write(runtime.LogLine{Time: start.Add(time.Duration(n) * time.Millisecond), Stream: stream, Text: text}); err != nil {
				t.Fatal(err)
			}
			n++
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if n > uiLogLines {
		t.Fatalf("%d lines: the run page shows only the last %d", n, uiLogLines)
	}
	if _, err := e.store.CreateRun(ctx, run); err != nil {
		t.Fatal(err)
	}

	stored, err := os.ReadFile(run.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	checkNoSecret(t, "the stored log", string(stored), secrets)
	if got := strings.Count(string(stored), "\n"); got < n {
		t.Fatalf("the stored log has %d lines, want at least %d", got, n)
	}

	get := func(path string) string {
		t.Helper()
		status, _, body := getPage(t, e, path, true)
		if status != 200 {
			t.Fatalf("GET %s: %d %s", path, status, body)
		}
		return body
	}
	base := "/api/runs/" + run.ID
	for _, path := range []string{base + "/logs?format=text", base + "/logs?download=1", base + "/logs?tail=10000&format=text"} {
		checkNoSecret(t, "GET "+path, get(path), secrets)
	}
	for _, path := range []string{base + "/logs?limit=10000", base + "/logs?tail=10000"} {
		body := get(path)
		checkNoSecret(t, "GET "+path, body, secrets)
		var page struct {
			Items []logs.Line `json:"items"`
		}
		if err := json.Unmarshal([]byte(body), &page); err != nil {
			t.Fatal(err)
		}
		if len(page.Items) < n {
			t.Fatalf("GET %s: %d lines, want %d", path, len(page.Items), n)
		}
		var texts strings.Builder
		for _, l := range page.Items {
			texts.WriteString(l.Text + "\n")
		}
		checkNoSecret(t, "the texts of GET "+path, texts.String(), secrets)
	}

	// The SSE stream of the finished run: every data line, and the texts
	// its JSON carries.
	sse := get(base + "/logs/stream")
	checkNoSecret(t, "the SSE stream", sse, secrets)
	var texts strings.Builder
	lines := 0
	sc := bufio.NewScanner(strings.NewReader(sse))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		var l logs.Line
		if json.Unmarshal([]byte(data), &l) == nil && l.N > 0 {
			texts.WriteString(l.Text + "\n")
			lines++
		}
	}
	if lines < n {
		t.Fatalf("the SSE stream carried %d lines, want %d", lines, n)
	}
	checkNoSecret(t, "the texts of the SSE stream", texts.String(), secrets)

	// The run page, as a browser shows it.
	page := get("/runs/" + run.ID)
	logHTML := page[strings.Index(page, `id="log-lines"`):]
	shown := pageText(logHTML[:strings.Index(logHTML, "</div></div>\n")+len("</div></div>")])
	if strings.Count(shown, "before ") < n/2 {
		t.Fatalf("the run page shows %d of the %d lines", strings.Count(shown, "before "), n)
	}
	checkNoSecret(t, "the run page", page, secrets)
	checkNoSecret(t, "the run page's log as a browser shows it", shown, secrets)
}

// TestRendererShowsNoSecret: the HTML renderer, given the masked form of
// every attack (and the masked form with every prefix of the attack cut
// off, so that sequences start mid-way), shows no secret.
func TestRendererShowsNoSecret(t *testing.T) {
	t.Parallel()
	attacks, secrets := readMaskAttacks(t)
	m := logs.NewMasker(secrets)
	for _, a := range attacks {
		for i := range len(a.Line) {
			masked := m.Mask(a.Line[i:])
			shown := pageText(string(ansiHTML(masked)))
			for _, f := range secretForms(a.Secret) {
				if strings.Contains(shown, f) {
					t.Fatalf("%s: ansiHTML(Mask(%q)) shows %q: %q", a.Name, a.Line[i:], f, shown)
				}
			}
		}
	}
}

// FuzzMaskedHTML: whatever the line, the page shows no secret after
// masking.
func FuzzMaskedHTML(f *testing.F) {
	attacks, secrets := readMaskAttacks(f)
	for _, a := range attacks[:20] {
		f.Add(a.Line)
	}
	m := logs.NewMasker(secrets)
	f.Fuzz(func(t *testing.T, line string) {
		shown := pageText(string(ansiHTML(m.Mask(line))))
		for _, s := range secrets {
			for _, form := range secretForms(s) {
				if strings.Contains(shown, form) {
					t.Fatalf("ansiHTML(Mask(%q)) shows %q: %q", line, form, shown)
				}
			}
		}
	})
}
