package webui

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/fastflow-dev/fastflow/operator"
	"github.com/fastflow-dev/fastflow/status"
	"github.com/fastflow-dev/fastflow/status/logs"
)

// TestAPIRunKeepsIntegerDigits: an integer parameter above 2^53 reaches the
// operator as the digits sent (a json.Number), not as a float64 that
// would print as 9.007199254740992e+15.
func TestAPIRunKeepsIntegerDigits(t *testing.T) {
	t.Parallel()
	op := newFakeOperator()
	op.answerRuns(func(req operator.RunRequest) (status.Run, error) {
		return status.Run{ID: "0190c6d6-3b4a-7c5d-8e6f-0a1b2c3d4e5f", Pipeline: req.Pipeline, Status: status.RunPending, Admitted: true}, nil
	})
	e := newFakeAPIEnv(t, op)
	code, body := e.do("POST", "/api/pipelines/big/run", `{"parameters": {"N": 9007199254740993, "F": 0.1, "S": "x"}}`, nil)
	if code != http.StatusCreated {
		t.Fatalf("run: %d %s", code, body)
	}
	reqs := op.runRequests()
	if len(reqs) != 1 {
		t.Fatalf("%d run requests, want 1", len(reqs))
	}
	got := reqs[0].Parameters
	if n, ok := got["N"].(json.Number); !ok || n.String() != "9007199254740993" {
		t.Errorf("N reached the operator as %T %v, want json.Number 9007199254740993", got["N"], got["N"])
	}
	if f, ok := got["F"].(json.Number); !ok || f.String() != "0.1" {
		t.Errorf("F reached the operator as %T %v, want json.Number 0.1", got["F"], got["F"])
	}
	if s, ok := got["S"].(string); !ok || s != "x" {
		t.Errorf("S reached the operator as %T %v, want the string", got["S"], got["S"])
	}
	if got := operator.EnvValue(got["N"]); got != "9007199254740993" {
		t.Errorf("N as the container's env: %q", got)
	}
}

// TestAPIRunBigIntegerReachesContainer is the same through the real
// operator and a container: the pipeline prints its N, and the log says
// every digit.
func TestAPIRunBigIntegerReachesContainer(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t, apiEnvOptions{docker: true, files: map[string]string{
		"big/main.py":       "import os\nprint('N=' + os.environ['N'])\n",
		"big/pipeline.json": `{"parameters": {"N": {"type": "integer"}}}`,
	}})
	var created runJSON
	code, body := e.do("POST", "/api/pipelines/big/run", `{"parameters": {"N": 9007199254740993}}`, &created)
	if code != http.StatusCreated {
		t.Fatalf("run: %d %s", code, body)
	}
	if created.Parameters["N"] != "9007199254740993" {
		t.Errorf("run record parameters %v, want N 9007199254740993", created.Parameters)
	}
	run := e.waitRun(created.ID, 90*time.Second)
	if run.Status != status.RunSuccess {
		t.Fatalf("run ended %s: %s", run.Status, run.Message)
	}
	var page listJSON[logs.Line]
	e.do("GET", run.LogURL, nil, &page)
	var lines []string
	for _, l := range page.Items {
		lines = append(lines, l.Text)
	}
	if !strings.Contains(strings.Join(lines, "\n"), "N=9007199254740993") {
		t.Errorf("the container saw %q, want N=9007199254740993", lines)
	}
}

// TestAPIListItemsStaySmall: a run that carries the most env the operator
// accepts and a huge string parameter adds a small, bounded item to a list
// page, marked truncated; GET /api/runs/{id} still has all of it.
func TestAPIListItemsStaySmall(t *testing.T) {
	t.Parallel()
	e := newFakeAPIEnv(t, newFakeOperator())
	ctx := context.Background()
	names := make([]string, 64)
	for i := range names {
		names[i] = fmt.Sprintf("VARIABLE_NAME_%02d_%s", i, strings.Repeat("X", 400))
	}
	params := map[string]string{"SMALL": "fine"}
	for i := range 40 {
		params[fmt.Sprintf("P%02d", i)] = strings.Repeat("ü", 50_000) // 100 kB each
	}
	big, err := e.store.CreateRun(ctx, status.Run{Pipeline: "heavy", Status: status.RunSuccess, Trigger: status.TriggerManual,
		QueuedAt: time.Now(), EnvNames: names, Parameters: params})
	if err != nil {
		t.Fatal(err)
	}
	small, err := e.store.CreateRun(ctx, status.Run{Pipeline: "light", Status: status.RunSuccess, Trigger: status.TriggerManual,
		QueuedAt: time.Now().Add(-time.Second), EnvNames: []string{"A"}, Parameters: map[string]string{"DATE": "2026-11-27"}})
	if err != nil {
		t.Fatal(err)
	}

	code, body := e.do("GET", "/api/runs?limit=10", nil, nil)
	if code != http.StatusOK {
		t.Fatalf("list: %d %s", code, body)
	}
	var page listJSON[runJSON]
	if err := json.Unmarshal(body, &page); err != nil {
		t.Fatal(err)
	}
	items := map[string]runJSON{}
	for _, it := range page.Items {
		items[it.ID] = it
	}
	heavy, light := items[big.ID], items[small.ID]
	heavyJSON, _ := json.Marshal(heavy)
	t.Logf("a page with a run of 64 long env names and 41 parameters (4 MB) is %d bytes, its item %d", len(body), len(heavyJSON))
	if len(heavyJSON) > 5<<10 {
		t.Errorf("the heavy run's item is %d bytes, want at most about 4 KiB", len(heavyJSON))
	}
	if !heavy.Truncated || len(heavy.EnvNames) == 0 || len(heavy.EnvNames) > listMaxNames || len(heavy.Parameters) == 0 || len(heavy.Parameters) > listMaxNames {
		t.Errorf("heavy item: truncated %v, %d env names, %d parameters; want truncated, some of each and at most %d",
			heavy.Truncated, len(heavy.EnvNames), len(heavy.Parameters), listMaxNames)
	}
	var nameBytes, valueBytes int
	for _, n := range heavy.EnvNames {
		nameBytes += len(n)
	}
	for k, v := range heavy.Parameters {
		valueBytes += len(v)
		if len(v) > listMaxValue+len("…") || !utf8.ValidString(v) || !strings.HasSuffix(v, "…") {
			t.Errorf("heavy item parameter %s is %d bytes (valid UTF-8 %v), want cut to %d with …", k, len(v), utf8.ValidString(v), listMaxValue)
		}
	}
	if nameBytes > listNameBytes || valueBytes > listValueBytes+listMaxNames*len("…") {
		t.Errorf("heavy item: %d bytes of env names, %d of parameter values; want at most %d and %d", nameBytes, valueBytes, listNameBytes, listValueBytes)
	}
	if _, ok := heavy.Parameters["P00"]; !ok {
		t.Errorf("heavy item parameters %v: want the first names in order", keysOf(heavy.Parameters))
	}
	if light.Truncated || len(light.EnvNames) != 1 || light.Parameters["DATE"] != "2026-11-27" {
		t.Errorf("light item %+v: want it whole and not truncated", light)
	}

	var full runJSON
	if code, body := e.do("GET", "/api/runs/"+big.ID, nil, &full); code != http.StatusOK {
		t.Fatalf("get: %d %s", code, body)
	}
	if full.Truncated || len(full.EnvNames) != 64 || len(full.Parameters) != 41 || full.Parameters["P07"] != params["P07"] {
		t.Errorf("GET /api/runs/{id}: truncated %v, %d env names, %d parameters; want all of them", full.Truncated, len(full.EnvNames), len(full.Parameters))
	}
}

func keysOf(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
