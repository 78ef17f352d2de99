package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBrowserANSIMatchesServer: app.js renders live log lines itself, so its
// ANSI renderer must give the markup the server's gives the same line on a
// reload. The cases are the server's own (webui/testdata/ansi_cases.json,
// kept equal to webui's ansiCases by webui TestAnsiCasesFile).
func TestBrowserANSIMatchesServer(t *testing.T) {
	requireChromium(t)
	b, err := os.ReadFile(filepath.Join("..", "..", "webui", "testdata", "ansi_cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct{ Name, In, Want string }
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) < 40 {
		t.Fatalf("only %d cases: the file proves little", len(cases))
	}
	srv := startServer(t, map[string]string{"hello/main.py": "print('hello')\n"}, nil, nil)
	tab := newBrowser(t)
	tab.login(serverURL(srv))
	ins := make([]string, len(cases))
	for i, c := range cases {
		ins[i] = c.In
	}
	arg, err := json.Marshal(ins)
	if err != nil {
		t.Fatal(err)
	}
	got := evalJS[[]string](tab, `(`+string(arg)+`).map((s) => window.fastflow.ansi(s))`)
	if len(got) != len(cases) {
		t.Fatalf("%d answers for %d cases", len(got), len(cases))
	}
	// Both escape the same characters; only the spelling of two entities
	// differs.
	norm := strings.NewReplacer("&quot;", "&#34;", "&#039;", "&#39;", "&#x27;", "&#39;", "&apos;", "&#39;").Replace
	for i, c := range cases {
		if norm(got[i]) != c.Want {
			t.Errorf("%s: app.js renders %q as\n %s\nthe server as\n %s", c.Name, c.In, got[i], c.Want)
		}
	}
}
