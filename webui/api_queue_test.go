package webui

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/fastflow-dev/fastflow/operator"
	"github.com/fastflow-dev/fastflow/status"
)

// queueRunID is the run the fake operator answers with.
const queueRunID = "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4c01"

// queueAnswer is how the fake operator answers a run request.
type queueAnswer int

const (
	answerStarted  queueAnswer = iota + 1 // RUNNING
	answerStarting                        // PENDING, holding a slot
	answerQueued                          // PENDING, waiting for a slot
	answerFull                            // ErrTooManyRuns
)

// answerWith makes op answer every run request with a.
func answerWith(op *fakeOperator, a queueAnswer) {
	op.answerRuns(func(req operator.RunRequest) (status.Run, error) {
		run := status.Run{ID: queueRunID, Pipeline: req.Pipeline, Trigger: req.Trigger, TriggeredBy: req.TriggeredBy,
			Attempt: 1, QueuedAt: time.Date(2026, 11, 27, 5, 0, 0, 0, time.UTC)}
		switch a {
		case answerStarted:
			run.Status, run.Admitted, run.StartedAt = status.RunRunning, true, run.QueuedAt.Add(time.Second)
		case answerStarting:
			run.Status, run.Admitted = status.RunPending, true
		case answerQueued:
			run.Status = status.RunPending
		default:
			return status.Run{}, fmt.Errorf("%w: 2 of MAX_CONCURRENT_RUNS=2 are active", operator.ErrTooManyRuns)
		}
		return run, nil
	})
}

// TestAPIRunQueue: POST /api/pipelines/{name}/run with and without
// "queue": 201 for a run that started, 202 with the PENDING run for one
// that was queued, 429 for a full house without "queue".
func TestAPIRunQueue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		body      string
		answer    queueAnswer
		wantCode  int
		wantQueue bool // what the operator was asked
		// wantQueued is the run's "queued" field: "absent", "true", "false".
		wantQueued string
	}{
		{"started without queue is 201", `{}`, answerStarted, http.StatusCreated, false, "absent"},
		{"started with queue is 201", `{"queue": true}`, answerStarted, http.StatusCreated, true, "absent"},
		{"starting with queue is 201, not queued", `{"queue": true}`, answerStarting, http.StatusCreated, true, "false"},
		{"queued is 202 with the pending run", `{"queue": true}`, answerQueued, http.StatusAccepted, true, "true"},
		{"queue false over the limit is 429", `{"queue": false}`, answerFull, http.StatusTooManyRequests, false, ""},
		{"no queue over the limit is 429", `{"parameters": {}}`, answerFull, http.StatusTooManyRequests, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			op := newFakeOperator()
			answerWith(op, tt.answer)
			e := newFakeAPIEnv(t, op)
			resp := e.request(t.Context(), "POST", "/api/pipelines/hello/run", tt.body, nil)
			body := readBody(t, resp)
			if resp.StatusCode != tt.wantCode {
				t.Fatalf("code %d, want %d: %s", resp.StatusCode, tt.wantCode, body)
			}
			reqs := op.runRequests()
			if len(reqs) != 1 || reqs[0].Queue != tt.wantQueue || reqs[0].Pipeline != "hello" || reqs[0].TriggeredBy != "alice" {
				t.Fatalf("operator asked %+v, want one request of alice for hello with Queue=%v", reqs, tt.wantQueue)
			}
			if tt.answer == answerFull {
				if ae := decodeAPIError(t, []byte(body)); ae.Error != "too many runs" || resp.Header.Get("Retry-After") == "" {
					t.Errorf("refusal %+v, Retry-After %q", ae, resp.Header.Get("Retry-After"))
				}
				return
			}
			if loc := resp.Header.Get("Location"); loc != "/api/runs/"+queueRunID {
				t.Errorf("Location %q", loc)
			}
			var fields map[string]json.RawMessage
			if err := json.Unmarshal([]byte(body), &fields); err != nil {
				t.Fatal(err)
			}
			got := "absent"
			if v, ok := fields["queued"]; ok {
				got = string(v)
			}
			if got != tt.wantQueued {
				t.Errorf(`"queued" %s, want %s`, got, tt.wantQueued)
			}
		})
	}
}

// TestAPIRunQueueMalformed: a "queue" that is not a boolean is the
// client's mistake, 400, and no run is asked for.
func TestAPIRunQueueMalformed(t *testing.T) {
	t.Parallel()
	op := newFakeOperator()
	answerWith(op, answerQueued)
	e := newFakeAPIEnv(t, op)
	for _, body := range []string{`{"queue": "yes"}`, `{"queue": 1}`, `{"queue": null, "queued": true}`} {
		code, b := e.do("POST", "/api/pipelines/hello/run", body, nil)
		if code != http.StatusBadRequest {
			t.Errorf("body %s: %d %s, want 400", body, code, b)
		}
	}
	if reqs := op.runRequests(); len(reqs) != 0 {
		t.Errorf("operator asked %+v for malformed bodies", reqs)
	}
}

// TestUIRunQueue: the run form's "Queue if all slots are busy" box, sent
// by app.js (JSON answer, toast) and by a plain form (redirect, flash).
func TestUIRunQueue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		form      url.Values
		answer    queueAnswer
		wantCode  int
		wantQueue bool
		ok        bool
		message   string
	}{
		{"ticked and queued", url.Values{"queue": {"1"}}, answerQueued, http.StatusAccepted, true, true,
			"Run 2e3f4c01 of hello queued: all slots are busy, it starts when one frees."},
		{"ticked and started at once", url.Values{"queue": {"1"}}, answerStarted, http.StatusCreated, true, true,
			"Run 2e3f4c01 of hello started."},
		{"not ticked and started", nil, answerStarted, http.StatusCreated, false, true, "Run 2e3f4c01 of hello started."},
		{"not ticked over the limit names the box", nil, answerFull, http.StatusTooManyRequests, false, false,
			`Run not started: too many runs (too many runs: 2 of MAX_CONCURRENT_RUNS=2 are active; tick "Queue if all slots are busy" to wait for one)`},
	}
	for _, tt := range tests {
		for _, asJSON := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s, javascript %v", tt.name, asJSON), func(t *testing.T) {
				t.Parallel()
				op := newFakeOperator()
				answerWith(op, tt.answer)
				e := newFakeAPIEnv(t, op)
				resp := postAction(t, e, "/pipelines/hello/run", tt.form, asJSON)
				if reqs := op.runRequests(); len(reqs) != 1 || reqs[0].Queue != tt.wantQueue {
					t.Fatalf("operator asked %+v, want Queue=%v", reqs, tt.wantQueue)
				}
				wantTo := "/pipelines/hello"
				if tt.ok {
					wantTo = "/runs/" + queueRunID
				}
				var res actionResult
				if asJSON {
					if resp.StatusCode != tt.wantCode {
						t.Errorf("code %d, want %d", resp.StatusCode, tt.wantCode)
					}
					res = decodeAction(t, resp)
					if tt.ok && res.Redirect != wantTo {
						t.Errorf("redirect %q, want %q", res.Redirect, wantTo)
					}
				} else {
					if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != wantTo {
						t.Fatalf("%d to %q, want 303 to %s", resp.StatusCode, resp.Header.Get("Location"), wantTo)
					}
					res = flashOf(t, resp)
				}
				if res.OK != tt.ok || res.Message != tt.message {
					t.Errorf("answer %+v, want ok=%v %q", res, tt.ok, tt.message)
				}
			})
		}
	}
}

// flashOf reads the flash a plain form's answer set, as an actionResult.
func flashOf(t *testing.T, resp *http.Response) actionResult {
	t.Helper()
	for _, c := range resp.Cookies() {
		if c.Name != flashCookie {
			continue
		}
		v, err := url.QueryUnescape(c.Value)
		if err != nil {
			t.Fatal(err)
		}
		kind, msg, _ := strings.Cut(v, ":")
		return actionResult{OK: kind == "success", Message: msg}
	}
	t.Fatal("no flash cookie")
	return actionResult{}
}
