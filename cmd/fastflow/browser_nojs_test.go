package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// TestBrowserWithoutJavaScript: with scripts off, a user still logs in,
// gets a refused run form back with the problem beside its field, starts a
// run with a parameter, is told so, and reads the run's outcome and log
// after a reload: every page works, minus the live parts.
func TestBrowserWithoutJavaScript(t *testing.T) {
	requireChromium(t)
	srv := startServer(t, map[string]string{
		"greet/pipeline.json": `{"parameters": {"WHO": {"type": "string", "required": true, "description": "Whom to greet"},
			"TIMES": {"type": "integer", "default": 1}}}`,
		"greet/main.py": "import os\nprint(f\"hello {os.environ['WHO']}\", flush=True)\n",
	}, nil, nil)
	base := serverURL(srv)
	b := newBrowser(t)
	ctx, cancel := context.WithTimeout(b.ctx, browserStepTimeout)
	_, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
	cancel()
	if err != nil {
		t.Fatalf("turn scripts off: %v", err)
	}
	b.login(base)
	if evalJS[bool](b, `typeof window.fastflow !== "undefined" || document.documentElement.classList.contains("js")`) {
		t.Fatal("app.js ran: scripts are not off, the test proves nothing")
	}

	b.navigate(base + "/pipelines/greet")
	b.typeInto(`[name="p.WHO"]`, "no-script world")
	b.typeInto(`[name="p.TIMES"]`, "many")
	b.clickAndLoad("submit the run form with a bad number", `form[action$="/run"] button[type=submit]`)
	if got := evalJS[string](b, `(document.querySelector('[data-error-for="TIMES"]') || {}).textContent || ""`); got != "want integer" {
		t.Fatalf("refused form: error beside TIMES = %q, want \"want integer\"\n%s", got, b.pageText())
	}
	if got := evalJS[string](b, `document.querySelector('[name="p.WHO"]').value`); got != "no-script world" {
		t.Errorf("refused form: WHO came back as %q, want what was typed", got)
	}

	b.typeInto(`[name="p.TIMES"]`, "2")
	b.clickAndLoad("submit the run form", `form[action$="/run"] button[type=submit]`)
	if !strings.HasPrefix(b.path(), "/runs/") {
		t.Fatalf("after starting a run: at %s, want a run page\n%s", b.where(), b.pageText())
	}
	if toast := evalJS[string](b, `(document.querySelector("#toasts .toast-success") || {}).textContent || ""`); !strings.Contains(toast, "started") {
		t.Errorf("no toast saying the run started: %q", toast)
	}
	id := strings.TrimPrefix(b.path(), "/runs/")
	apiWaitRun(srv, id, 2*time.Minute)
	b.navigate(base + "/runs/" + id)
	if got := evalJS[string](b, runStatusJS); got != "SUCCESS" {
		t.Errorf("run page after the run: status %q, want SUCCESS", got)
	}
	if log := evalJS[string](b, `document.querySelector("#log-lines").textContent`); !strings.Contains(log, "hello no-script world") {
		t.Errorf("run page log %q lacks the greeting", log)
	}
}
