package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/fastflow-dev/fastflow/status/logs"
)

// browserShown is what a person reads of a text the browser renders: the
// rendered text (innerText) without the runes drawn as nothing.
func browserShown(s string) string {
	return strings.Map(func(r rune) rune {
		if r != '\n' && r != '\t' && (unicode.Is(unicode.Cc, r) || invisibleRune(r)) {
			return -1
		}
		return r
	}, s)
}

// checkBrowserText fails when text shows a form of a secret.
func checkBrowserText(t *testing.T, view, text string, secrets []string) {
	t.Helper()
	shown := browserShown(text)
	for _, s := range secrets {
		for _, f := range secretForms(s) {
			if i := strings.Index(shown, f); i >= 0 {
				t.Errorf("%s shows %q: …%q…", view, f, shown[max(0, i-40):min(len(shown), i+len(f)+40)])
			}
		}
	}
}

// lineTextsJS is the rendered text of every line of the log viewer.
const lineTextsJS = `[...document.querySelectorAll("#log-lines .line .tx")].map(e => e.innerText)`

// TestBrowserShowsNoSecret: a pipeline on Docker prints the attack corpus
// with real secrets while the run page is open. Neither the lines app.js
// renders live from the SSE stream nor the ones the server renders on a
// reload show a secret. Then app.js's renderer itself, given every
// attack line as masked, shows none, and given the raw lines it shows
// exactly the text the masker looks for secrets in.
func TestBrowserShowsNoSecret(t *testing.T) {
	requireChromium(t)
	attacks, secrets := readMaskAttacks(t)
	key, _, _ := (&testServer{t: t}).cli("", nil, "keygen")
	srv := startServer(t, attackPipeline(t, attacks, secrets, 4), []string{"ENCRYPTION_KEY=" + strings.TrimSpace(key),
		"LOG_STREAM_RATE_LIMIT=100000"}, func(s *testServer) { setLeakSecrets(s, secrets) })
	base := serverURL(srv)
	b := newBrowser(t)
	b.login(base)
	id := apiStartRun(srv, "attacks", nil)
	b.navigate(base + "/runs/" + id)
	b.waitFor("the log viewer live", 30*time.Second, `window.fastflow && window.fastflow.state() === "live"`)
	b.waitRunStatus("SUCCESS", 90*time.Second)
	b.waitFor(`#log-state "ended"`, 10*time.Second, logStateJS+` === "ended"`)

	want := 2*len(attacks) + 1
	envCheck := "env check: " + strings.Repeat("***|", len(secrets)-1) + "***"
	for _, view := range []string{"live (app.js)", "reloaded (server)"} {
		texts := evalJS[[]string](b, lineTextsJS)
		if len(texts) != want {
			t.Fatalf("%s: %d lines in the page, want %d", view, len(texts), want)
		}
		if !strings.Contains(texts[len(texts)-1], envCheck) {
			t.Errorf("%s: the last line is %q, want the masked %q", view, texts[len(texts)-1], envCheck)
		}
		checkBrowserText(t, view+": the log", strings.Join(texts, "\n"), secrets)
		for i, text := range texts {
			checkBrowserText(t, fmt.Sprintf("%s: line %d", view, i+1), text, secrets)
		}
		checkBrowserText(t, view+": the page", b.pageText(), secrets)
		b.navigate(base + "/runs/" + id)
		b.waitFor("the run page loaded", browserStepTimeout, `window.fastflow && document.querySelector("#log-lines .line")`)
	}

	// app.js's renderer on every attack, masked and raw, in an element
	// styled as the log's lines (white-space: pre-wrap), so innerText is
	// what is drawn.
	m := logs.NewMasker(secrets)
	var masked, raw []string
	for _, a := range attacks {
		masked = append(masked, m.Mask(a.Line))
		raw = append(raw, a.Line)
	}
	render := func(lines []string) []string {
		arg, err := json.Marshal(lines)
		if err != nil {
			t.Fatal(err)
		}
		return evalJS[[]string](b, `(`+string(arg)+`).map((s) => {
			const d = document.createElement("div");
			d.style.whiteSpace = "pre-wrap";
			d.innerHTML = window.fastflow.ansi(s);
			document.body.append(d);
			const text = d.innerText;
			d.remove();
			return text })`)
	}
	for i, text := range render(masked) {
		checkBrowserText(t, "app.js rendering "+attacks[i].Name+" masked", text, secrets)
	}
	for i, text := range render(raw) {
		if got, want := browserShown(text), browserShown(logs.Visible(raw[i])); got != want {
			t.Errorf("%s: app.js shows %q of %q; the masker saw %q", attacks[i].Name, got, raw[i], want)
		}
	}
}
