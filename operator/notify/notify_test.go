package notify

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/fastflow-dev/fastflow/status"
)

func exitCode(n int) *int { return &n }

func TestText(t *testing.T) {
	start := time.Date(2026, 5, 4, 2, 0, 0, 0, time.UTC)
	failed := status.Run{ID: "0195f000-aaaa", Pipeline: "etl<prod>", Status: status.RunFailed, ErrorType: status.ErrorExitCode,
		ExitCode: exitCode(1), Message: "exited with code 1", StartedAt: start, FinishedAt: start.Add(83 * time.Second), Attempt: 3}
	ok := failed
	ok.Status, ok.ErrorType, ok.Message, ok.Attempt = status.RunSuccess, "", "", 1
	tests := []struct {
		name string
		m    Message
		want string
	}{
		{"failure", Message{Event: "failure", Run: failed, RunURL: "https://ff/runs/0195f000-aaaa"},
			"Pipeline etl&lt;prod&gt;: run 0195f000 ended FAILED (EXIT_CODE) after 1m23s, attempt 3.\nexited with code 1\n<https://ff/runs/0195f000-aaaa|Open the run>"},
		{"recovery", Message{Event: "recovery", Run: ok}, "Pipeline etl&lt;prod&gt; recovered: run 0195f000 succeeded after 1m23s."},
		{"success", Message{Event: "success", Run: ok}, "Pipeline etl&lt;prod&gt;: run 0195f000 succeeded after 1m23s."},
		{"timeout", Message{Event: "timeout", Run: status.Run{ID: "r1", Pipeline: "slow", Status: status.RunTimeout, Message: "timed out after 5s"}},
			"Pipeline slow: run r1 timed out.\ntimed out after 5s"},
		{"long message", Message{Event: "failure", Run: status.Run{ID: "r2", Pipeline: "p", Status: status.RunInterrupted, Message: strings.Repeat("x", 600)}},
			"Pipeline p: run r2 ended INTERRUPTED.\n" + strings.Repeat("x", 500) + "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Text(tt.m); got != tt.want {
				t.Errorf("Text =\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

func TestBody(t *testing.T) {
	at := time.Date(2026, 5, 4, 2, 0, 0, 0, time.UTC)
	m := Message{Event: "failure", DeliveryID: "r1/HOOK", SentAt: at.Add(time.Minute), RunURL: "https://ff/runs/r1",
		Run: status.Run{ID: "r1", Pipeline: "etl", Status: status.RunFailed, ErrorType: status.ErrorOOM, ExitCode: exitCode(137),
			Message: "out of memory", Revision: "abc", Trigger: status.TriggerSchedule, Attempt: 1, QueuedAt: at,
			StartedAt: at.Add(time.Second), FinishedAt: at.Add(3 * time.Second), Parameters: map[string]string{"DAY": "mon"}}}
	got, err := Body(FormatJSON, m)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"event":"failure","delivery_id":"r1/HOOK","sent_at":"2026-05-04T02:01:00Z","run":{"id":"r1","pipeline":"etl","status":"FAILED","error_type":"OOM","exit_code":137,"message":"out of memory","revision":"abc","trigger":"schedule","attempt":1,"queued_at":"2026-05-04T02:00:00Z","started_at":"2026-05-04T02:00:01Z","finished_at":"2026-05-04T02:00:03Z","duration_seconds":2,"url":"https://ff/runs/r1"}}`
	if string(got) != want {
		t.Errorf("json body\n%s\nwant\n%s", got, want)
	}
	slack, err := Body(FormatSlack, m)
	if err != nil || !strings.HasPrefix(string(slack), `{"text":"Pipeline etl: run r1 ended FAILED (OOM) after 2s.`) {
		t.Errorf("slack body %s, %v", slack, err)
	}
	if _, err := Body("xml", m); err == nil {
		t.Error("Body(xml) succeeded")
	}
}

func TestSign(t *testing.T) {
	// The value from GitHub's webhook documentation's example.
	got := Sign([]byte("It's a Secret to Everybody"), []byte("Hello, World!"))
	if want := "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"; got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
}

func TestParseURL(t *testing.T) {
	for _, v := range []string{"https://hooks.example/services/T/B/x", "http://127.0.0.1:8080/hook", " https://h/x\n"} {
		if _, err := ParseURL(v); err != nil {
			t.Errorf("ParseURL(%q) = %v", v, err)
		}
	}
	for _, v := range []string{"", "hooks.example/x", "ftp://h/x", "https://", "mailto:a@b", "javascript:alert(1)"} {
		if _, err := ParseURL(v); !errors.Is(err, ErrBadURL) {
			t.Errorf("ParseURL(%q) = %v, want ErrBadURL", v, err)
		}
	}
}

// TestSend: the answers a receiver can give, classified, with no error
// text that repeats the URL.
func TestSend(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok/token":
			if r.Header.Get(HeaderSignature) != Sign([]byte("key"), []byte(`{"a":1}`)) || r.Header.Get("Content-Type") != "application/json" {
				http.Error(w, "bad signature", http.StatusUnauthorized)
			}
		case "/gone/token":
			http.Error(w, "no_service\n", http.StatusNotFound)
		case "/busy/token":
			w.Header().Set("Retry-After", "120")
			w.WriteHeader(http.StatusTooManyRequests)
		case "/broken/token":
			w.WriteHeader(http.StatusBadGateway)
		case "/moved/token":
			http.Redirect(w, r, "/ok/token", http.StatusFound)
		}
	}))
	defer srv.Close()
	client := &http.Client{Timeout: 5 * time.Second, CheckRedirect: NoRedirects}
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	tests := []struct {
		url       string
		ok        bool
		permanent bool
		code      int
		retry     time.Duration
		errHas    string
	}{
		{url: srv.URL + "/ok/token", ok: true},
		{url: srv.URL + "/gone/token", permanent: true, code: 404, errHas: "HTTP 404 Not Found: no_service"},
		{url: srv.URL + "/busy/token", code: 429, retry: 2 * time.Minute, errHas: "HTTP 429"},
		{url: srv.URL + "/broken/token", code: 502, errHas: "HTTP 502 Bad Gateway"},
		{url: srv.URL + "/moved/token", permanent: true, code: 302, errHas: "redirects are not followed"},
		{url: deadURL + "/token", errHas: "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			u, err := ParseURL(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			err = Send(context.Background(), client, Request{URL: u, Body: []byte(`{"a":1}`), Event: "failure", DeliveryID: "r/T", SigningKey: []byte("key")})
			if tt.ok {
				if err != nil {
					t.Fatalf("Send = %v", err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Send = %v, want *Error", err)
			}
			if e.Permanent != tt.permanent || e.StatusCode != tt.code || e.RetryAfter != tt.retry || !strings.Contains(e.Error(), tt.errHas) {
				t.Errorf("Send = %+v (%q); want permanent %v, code %d, retry after %s, error with %q", e, e.Error(), tt.permanent, tt.code, tt.retry, tt.errHas)
			}
			if strings.Contains(e.Error(), "token") {
				t.Errorf("error %q shows the URL's path", e.Error())
			}
		})
	}
}
