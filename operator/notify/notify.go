// Package notify builds and sends the messages that tell a team how a run
// ended: a Slack-compatible body or a JSON document signed with
// HMAC-SHA256, posted to a webhook URL with the failure classified so the
// caller knows whether another attempt can help. It keeps no state; the
// operator's notifier owns the queue, the retries and the store.
package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/fastflow-dev/fastflow/status"
)

// The headers a notification carries. Delivery is the same on every
// attempt of one notification, so a receiver can drop a repeat (one is
// possible when Fast-Flow dies between the receiver's answer and recording
// it).
const (
	HeaderEvent     = "X-FastFlow-Event"
	HeaderDelivery  = "X-FastFlow-Delivery"
	HeaderSignature = "X-FastFlow-Signature-256"
)

// The formats a target can ask for.
const (
	FormatSlack = "slack"
	FormatJSON  = "json"
)

// ErrBadURL: the secret's value is not a webhook URL Fast-Flow posts to.
var ErrBadURL = errors.New("notify: not an http or https URL")

// Message is one notification about one run.
type Message struct {
	Event string
	Run   status.Run
	// RunURL links to the run page; empty when BASE_URL is not set.
	RunURL     string
	DeliveryID string
	SentAt     time.Time
}

// runDoc is the run as a json body shows it: the fields of the API's run
// record that say how it went, none that could carry a secret.
type runDoc struct {
	ID              string     `json:"id"`
	Pipeline        string     `json:"pipeline"`
	Status          string     `json:"status"`
	ErrorType       string     `json:"error_type,omitempty"`
	ExitCode        *int       `json:"exit_code"`
	Message         string     `json:"message"`
	Revision        string     `json:"revision"`
	Trigger         string     `json:"trigger"`
	Attempt         int        `json:"attempt"`
	QueuedAt        time.Time  `json:"queued_at"`
	StartedAt       *time.Time `json:"started_at"`
	FinishedAt      *time.Time `json:"finished_at"`
	DurationSeconds float64    `json:"duration_seconds"`
	URL             string     `json:"url,omitempty"`
}

type jsonBody struct {
	Event      string    `json:"event"`
	DeliveryID string    `json:"delivery_id"`
	SentAt     time.Time `json:"sent_at"`
	Run        runDoc    `json:"run"`
}

type slackBody struct {
	Text string `json:"text"`
}

// Body renders m in format.
func Body(format string, m Message) ([]byte, error) {
	switch format {
	case FormatSlack:
		return json.Marshal(slackBody{Text: Text(m)})
	case FormatJSON:
		r := m.Run
		doc := runDoc{ID: r.ID, Pipeline: r.Pipeline, Status: string(r.Status), ErrorType: string(r.ErrorType),
			ExitCode: r.ExitCode, Message: r.Message, Revision: r.Revision, Trigger: string(r.Trigger), Attempt: r.Attempt,
			QueuedAt: r.QueuedAt, StartedAt: timeOrNil(r.StartedAt), FinishedAt: timeOrNil(r.FinishedAt),
			DurationSeconds: r.Duration().Seconds(), URL: m.RunURL}
		return json.Marshal(jsonBody{Event: m.Event, DeliveryID: m.DeliveryID, SentAt: m.SentAt.UTC(), Run: doc})
	default:
		return nil, fmt.Errorf("notify: unknown format %q", format)
	}
}

// Text is the one-paragraph summary of a Slack body: what happened, to
// which pipeline, why, and a link to the run.
func Text(m Message) string {
	r := m.Run
	var b strings.Builder
	switch m.Event {
	case "recovery":
		fmt.Fprintf(&b, "Pipeline %s recovered: run %s succeeded", slackEscape(r.Pipeline), shortID(r.ID))
	case "success":
		fmt.Fprintf(&b, "Pipeline %s: run %s succeeded", slackEscape(r.Pipeline), shortID(r.ID))
	case "timeout":
		fmt.Fprintf(&b, "Pipeline %s: run %s timed out", slackEscape(r.Pipeline), shortID(r.ID))
	default:
		fmt.Fprintf(&b, "Pipeline %s: run %s ended %s", slackEscape(r.Pipeline), shortID(r.ID), r.Status)
		if r.ErrorType != "" {
			fmt.Fprintf(&b, " (%s)", r.ErrorType)
		}
	}
	if d := r.Duration(); d > 0 {
		fmt.Fprintf(&b, " after %s", d.Round(time.Second))
	}
	if r.Attempt > 1 {
		fmt.Fprintf(&b, ", attempt %d", r.Attempt)
	}
	b.WriteString(".")
	if r.Message != "" && r.Status != status.RunSuccess {
		msg := r.Message
		if len(msg) > 500 {
			msg = msg[:500] + "…"
		}
		fmt.Fprintf(&b, "\n%s", slackEscape(msg))
	}
	if m.RunURL != "" {
		fmt.Fprintf(&b, "\n<%s|Open the run>", m.RunURL)
	}
	return b.String()
}

// slackEscape escapes what Slack's mrkdwn reads as control characters.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// Sign returns the signature header's value for body: "sha256=" and the
// hex HMAC-SHA256 of the body under key, as GitHub signs its webhooks.
func Sign(key, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// ParseURL checks that v, a secret's value, is an absolute http or https
// URL. The error never repeats v: a webhook URL is itself a credential.
func ParseURL(v string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(v))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, ErrBadURL
	}
	return u, nil
}

// Error is a failed delivery. Permanent says another attempt will not
// help (the receiver refused the request); RetryAfter is the receiver's
// own wish, zero when it said none.
type Error struct {
	StatusCode int
	Permanent  bool
	RetryAfter time.Duration
	msg        string
}

func (e *Error) Error() string { return e.msg }

// Permanent is a failure no further attempt can mend, such as a secret
// whose value is not a URL.
func Permanent(msg string) error { return &Error{Permanent: true, msg: msg} }

// Request is one post.
type Request struct {
	URL        *url.URL
	Body       []byte
	Event      string
	DeliveryID string
	// SigningKey, when set, signs the body (HeaderSignature).
	SigningKey []byte
	UserAgent  string
}

// maxRetryAfter bounds a receiver's Retry-After.
const maxRetryAfter = time.Hour

// Send posts req with client and classifies the outcome: nil for a 2xx
// answer, an *Error otherwise. Redirects are not followed (client should
// refuse them; a 3xx is a permanent failure). No error text contains the
// URL.
func Send(ctx context.Context, client *http.Client, req Request) error {
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, req.URL.String(), bytes.NewReader(req.Body))
	if err != nil {
		return &Error{Permanent: true, msg: "cannot build the request: " + scrub(err)}
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("User-Agent", req.UserAgent)
	hr.Header.Set(HeaderEvent, req.Event)
	hr.Header.Set(HeaderDelivery, req.DeliveryID)
	if len(req.SigningKey) > 0 {
		hr.Header.Set(HeaderSignature, Sign(req.SigningKey, req.Body))
	}
	resp, err := client.Do(hr)
	if err != nil {
		return &Error{msg: scrub(err)}
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	e := &Error{StatusCode: resp.StatusCode, msg: "HTTP " + resp.Status}
	if s := strings.TrimSpace(strings.ToValidUTF8(string(snippet), "�")); s != "" {
		if len(s) > 200 {
			s = s[:200] + "…"
		}
		e.msg += ": " + strings.Join(strings.Fields(s), " ")
	}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode >= 500:
		e.RetryAfter = retryAfter(resp.Header.Get("Retry-After"))
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		e.Permanent = true
		e.msg += " (redirects are not followed; put the final URL in the secret)"
	default:
		e.Permanent = true
	}
	return e
}

func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.Atoi(v); err == nil && n > 0 {
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = time.Until(t)
	}
	return min(max(d, 0), maxRetryAfter)
}

// scrub returns the error's text without the URL that net/http puts in
// front of it ("Post \"https://…\": dial tcp …").
func scrub(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "no answer in time"
	}
	return err.Error()
}

// NoRedirects is an http.Client CheckRedirect that refuses every redirect,
// so a notification never lands at a URL the secret did not name.
func NoRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
