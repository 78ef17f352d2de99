package operator

import (
	"context"
	"crypto/hmac"
	"encoding/json"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fastflow-dev/fastflow/operator/notify"
	"github.com/fastflow-dev/fastflow/runtime/fake"
	"github.com/fastflow-dev/fastflow/status"
)

// received is one request a receiver got.
type received struct {
	Path, Event, Delivery, Signature string
	Body                             []byte
}

// receiver is a real HTTP server on 127.0.0.1 that records what it gets.
// Paths under /hang answer only when the test ends.
type receiver struct {
	*httptest.Server
	mu   sync.Mutex
	got  []received
	hang chan struct{}
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{hang: make(chan struct{})}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		if strings.HasPrefix(req.URL.Path, "/hang") {
			select {
			case <-r.hang:
			case <-req.Context().Done():
			}
			return
		}
		r.mu.Lock()
		r.got = append(r.got, received{Path: req.URL.Path, Event: req.Header.Get(notify.HeaderEvent),
			Delivery: req.Header.Get(notify.HeaderDelivery), Signature: req.Header.Get(notify.HeaderSignature), Body: body})
		r.mu.Unlock()
		if strings.HasPrefix(req.URL.Path, "/gone") {
			http.Error(w, "no_service", http.StatusNotFound)
		}
	}))
	t.Cleanup(func() { close(r.hang); r.Close() })
	return r
}

// at returns what arrived at path.
func (r *receiver) at(path string) []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []received
	for _, g := range r.got {
		if g.Path == path {
			out = append(out, g)
		}
	}
	return out
}

// deadURL is an address nothing listens on.
func deadURL(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr + "/T000/B000/secret-token-xyz"
}

func notificationsOf(t *testing.T, e *fakeEnv, id string) map[string]status.Notification {
	t.Helper()
	ns, err := e.store.ListNotifications(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]status.Notification{}
	for _, n := range ns {
		out[n.Target] = n
	}
	return out
}

// TestNotifications: a failure reaches a Slack-style and a signed JSON
// target; the next success is a recovery; the success after that reaches
// only the target that asked for successes; a target that is down is
// retried with backoff until it is marked failed, and one that never
// answers delays no run; a failed attempt that will be retried notifies
// nobody; a timeout is one "timeout" notification.
func TestNotifications(t *testing.T) {
	recv := newReceiver(t)
	dead := deadURL(t)
	secrets := secretSource{
		"SLACK": recv.URL + "/slack", "HOOK": recv.URL + "/hook", "HOOK_KEY": "k3y",
		"DOWN": dead, "HANG": recv.URL + "/hang", "GONE": recv.URL + "/gone", "NOTURL": "hooks.example/x",
		"RETRIED": recv.URL + "/retried", "SLOW": recv.URL + "/slow",
	}
	e := newFakeEnv(t, map[string]string{
		"etl/main.py": "print('x')\n",
		"etl/pipeline.json": `{"notify": [
			{"secret": "SLACK"},
			{"secret": "HOOK", "on": ["failure", "recovery", "success"], "format": "json", "signing_secret": "HOOK_KEY"},
			{"secret": "DOWN", "on": ["failure"]},
			{"secret": "HANG", "on": ["failure"]},
			{"secret": "GONE", "on": ["failure"]},
			{"secret": "NOTURL", "on": ["failure"]},
			{"secret": "UNSET", "on": ["failure"]}]}`,
		"flaky/main.py":       "print('x')\n",
		"flaky/pipeline.json": `{"retry_attempts": 1, "retry_delay": 5, "notify": [{"secret": "RETRIED", "on": ["failure", "recovery", "success"]}]}`,
		"slow/main.py":        "print('x')\n",
		"slow/pipeline.json":  `{"timeout": 5, "notify": [{"secret": "SLOW", "on": ["failure", "timeout"]}]}`,
	}, map[string]fake.Program{
		"etl":   {fake.Print("boom"), fake.Exit(1)},
		"flaky": {fake.Print("first"), fake.Exit(1)},
		"slow":  {fake.Forever()},
	}, func(c *Config) {
		c.Secrets = secrets
		c.Notify = NotifyConfig{BaseURL: "https://ff.example.com/", Timeout: 300 * time.Millisecond, MaxAttempts: 3}
	})

	failed := e.finalAfter(e.startRun(RunRequest{Pipeline: "etl"}).ID, 100*time.Millisecond, time.Minute)
	if failed.Status != status.RunFailed {
		t.Fatalf("etl run = %s, want FAILED", failed.Status)
	}
	e.waitFor("the failure at both receivers", 10*time.Second, func() bool {
		return len(recv.at("/slack")) == 1 && len(recv.at("/hook")) == 1
	})
	slack := recv.at("/slack")[0]
	var sb struct{ Text string }
	if err := json.Unmarshal(slack.Body, &sb); err != nil {
		t.Fatalf("slack body %s: %v", slack.Body, err)
	}
	for _, want := range []string{"Pipeline etl", "ended FAILED (EXIT_CODE)", "<https://ff.example.com/runs/" + failed.ID + "|Open the run>"} {
		if !strings.Contains(sb.Text, want) {
			t.Errorf("slack text %q lacks %q", sb.Text, want)
		}
	}
	if slack.Event != "failure" || slack.Delivery != failed.ID+"/SLACK" || slack.Signature != "" {
		t.Errorf("slack headers: event %q, delivery %q, signature %q", slack.Event, slack.Delivery, slack.Signature)
	}
	hook := recv.at("/hook")[0]
	if want := notify.Sign([]byte("k3y"), hook.Body); !hmac.Equal([]byte(hook.Signature), []byte(want)) {
		t.Errorf("json signature %q, want %q", hook.Signature, want)
	}
	var hb struct {
		Event string `json:"event"`
		Run   struct {
			ID        string `json:"id"`
			Status    string `json:"status"`
			ErrorType string `json:"error_type"`
		} `json:"run"`
	}
	if err := json.Unmarshal(hook.Body, &hb); err != nil || hb.Event != "failure" || hb.Run.ID != failed.ID ||
		hb.Run.Status != "FAILED" || hb.Run.ErrorType != "EXIT_CODE" {
		t.Errorf("json body %s (%v)", hook.Body, err)
	}

	// The receivers that refuse or cannot take the message: GONE and
	// NOTURL fail at once, UNSET, DOWN and HANG are retried until they
	// run out (the clock runs on while HANG's attempts wait in real time).
	e.advanceUntil("the failing targets to give up", time.Second, 24*time.Hour, func() bool {
		ns := notificationsOf(t, e, failed.ID)

		for _, target := range []string{"DOWN", "UNSET", "GONE", "NOTURL", "HANG"} {
			if ns[target].State != status.NotificationFailed {
				return false
			}
		}
		return true
	})
	ns := notificationsOf(t, e, failed.ID)
	checks := []struct {
		target   string
		attempts int
		errHas   string
	}{
		{"SLACK", 1, ""},
		{"HOOK", 1, ""},
		{"GONE", 1, "HTTP 404 Not Found: no_service"},
		{"NOTURL", 1, "the value of secret NOTURL is not an http or https URL"},
		{"UNSET", 3, "the secret is not set"},
		{"DOWN", 3, "connection refused"},
		{"HANG", 3, ""},
	}
	for _, c := range checks {
		n := ns[c.target]
		wantState := status.NotificationFailed
		if c.target == "SLACK" || c.target == "HOOK" {
			wantState = status.NotificationDelivered
		}
		if n.State != wantState || n.Attempts != c.attempts || !strings.Contains(n.LastError, c.errHas) {
			t.Errorf("%s: %s after %d attempts, %q; want %s after %d, error with %q", c.target, n.State, n.Attempts, n.LastError, wantState, c.attempts, c.errHas)
		}
		if strings.Contains(n.LastError, "secret-token-xyz") || strings.Contains(n.LastError, recv.URL) {
			t.Errorf("%s: the error %q shows the webhook URL", c.target, n.LastError)
		}
	}
	if ns["HANG"].LastError == "" {
		t.Error("HANG: no error recorded for a receiver that never answers")
	}

	// A success after the failure is a recovery for both; the one after
	// it reaches only HOOK, which asked for successes.
	e.setProgram("etl", fake.Program{fake.Print("ok"), fake.Exit(0)})
	ok1 := e.finalAfter(e.startRun(RunRequest{Pipeline: "etl"}).ID, 100*time.Millisecond, time.Minute)
	e.waitFor("the recovery", 10*time.Second, func() bool { return len(recv.at("/slack")) == 2 && len(recv.at("/hook")) == 2 })
	if ev := recv.at("/slack")[1].Event; ev != "recovery" {
		t.Errorf("slack's second event = %q, want recovery", ev)
	}
	if ev := recv.at("/hook")[1].Event; ev != "recovery" {
		t.Errorf("hook's second event = %q, want recovery", ev)
	}
	if got := notificationsOf(t, e, ok1.ID); len(got) != 2 {
		t.Errorf("recovery run's notifications: %v; want SLACK and HOOK only", slices.Collect(maps.Keys(got)))
	}
	ok2 := e.finalAfter(e.startRun(RunRequest{Pipeline: "etl"}).ID, 100*time.Millisecond, time.Minute)
	e.waitFor("the success", 10*time.Second, func() bool { return len(recv.at("/hook")) == 3 })
	if ev := recv.at("/hook")[2].Event; ev != "success" {
		t.Errorf("hook's third event = %q, want success", ev)
	}
	if got := notificationsOf(t, e, ok2.ID); len(got) != 1 || got["HOOK"].Event != "success" {
		t.Errorf("second success's notifications = %+v; want only HOOK", got)
	}

	// flaky fails once and succeeds on its retry: the failure that was
	// retried told nobody, and the success after it is no recovery.
	first := e.startRun(RunRequest{Pipeline: "flaky"})
	e.finalAfter(first.ID, 100*time.Millisecond, time.Minute)
	e.setProgram("flaky", fake.Program{fake.Print("second"), fake.Exit(0)})
	var retry status.Run
	e.advanceUntil("flaky's retry to succeed", time.Second, time.Minute, func() bool {
		page, err := e.store.ListRuns(context.Background(), status.RunFilter{RetryOf: first.ID})
		if err != nil || len(page.Runs) != 1 {
			return false
		}
		retry = page.Runs[0]
		return retry.Status == status.RunSuccess
	})
	e.waitFor("flaky's success notification", 10*time.Second, func() bool { return len(recv.at("/retried")) == 1 })
	if ev := recv.at("/retried")[0].Event; ev != "success" {
		t.Errorf("flaky's notification = %q, want success (the retried failure was never announced)", ev)
	}
	if got := notificationsOf(t, e, first.ID); len(got) != 0 {
		t.Errorf("the retried first attempt has notifications %+v; want none", got)
	}

	// A timeout is one notification, of the timeout event.
	slow := e.finalAfter(e.startRun(RunRequest{Pipeline: "slow"}).ID, time.Second, time.Minute)
	if slow.Status != status.RunTimeout {
		t.Fatalf("slow = %s, want TIMEOUT", slow.Status)
	}
	e.waitFor("the timeout notification", 10*time.Second, func() bool { return len(recv.at("/slow")) == 1 })
	if ev := recv.at("/slow")[0].Event; ev != "timeout" {
		t.Errorf("slow's notification = %q, want timeout", ev)
	}
}

// TestNotificationsSurviveRestart: a notification enqueued by one process
// is delivered by the next when the first stopped before sending it.
func TestNotificationsSurviveRestart(t *testing.T) {
	recv := newReceiver(t)
	var on sync.Mutex
	blocked := true
	inFlight := make(chan struct{}, 1)
	gate := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		on.Lock()
		b := blocked
		on.Unlock()
		if b {
			inFlight <- struct{}{}
			<-r.Context().Done()
			return nil, r.Context().Err()
		}
		return http.DefaultTransport.RoundTrip(r)
	})
	e := newFakeEnv(t, map[string]string{
		"etl/main.py":       "print('x')\n",
		"etl/pipeline.json": `{"notify": [{"secret": "SLACK"}]}`,
	}, map[string]fake.Program{"etl": {fake.Exit(2)}}, func(c *Config) {
		c.Secrets = secretSource{"SLACK": recv.URL + "/slack"}
		c.Notify = NotifyConfig{Transport: gate, Timeout: time.Hour}
	})
	run := e.finalAfter(e.startRun(RunRequest{Pipeline: "etl"}).ID, 100*time.Millisecond, time.Minute)
	select {
	case <-inFlight: // claimed and being sent when the process stops
	case <-time.After(10 * time.Second):
		t.Fatal("the first process never sent the notification")
	}
	claimedAt := e.clk.Now()
	on.Lock()
	blocked = false
	on.Unlock()
	e.restart(func(c *Config) {
		c.Secrets = secretSource{"SLACK": recv.URL + "/slack"}
		c.Notify = NotifyConfig{Transport: gate, Timeout: time.Second}
	})
	// The first process's claim holds a lease of its timeout + 30 s.
	e.advanceUntil("the delivery by the second process", 10*time.Second, 3*time.Hour, func() bool {
		return notificationsOf(t, e, run.ID)["SLACK"].State == status.NotificationDelivered
	})
	n := notificationsOf(t, e, run.ID)["SLACK"]
	if n.Attempts != 1 {
		t.Errorf("after the restart: %+v; want delivered on its first recorded attempt", n)
	}
	if lease := time.Hour + 30*time.Second; n.DeliveredAt.Sub(claimedAt) < lease {
		t.Errorf("delivered %s after the first claim; want after its lease of %s", n.DeliveredAt.Sub(claimedAt), lease)
	}
	if got := len(recv.at("/slack")); got != 1 {
		t.Errorf("the receiver got %d requests, want 1", got)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
