package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/fastflow-dev/fastflow/status/logs"
)

// apiClient talks to a running `fastflow serve` for the commands people
// type: run, runs, cancel, logs. FASTFLOW_URL and FASTFLOW_TOKEN (an API
// token from `fastflow token create`) say where and as whom.
type apiClient struct {
	base  string
	token string
	http  *http.Client
}

func newAPIClient(environ []string) (*apiClient, error) {
	e, err := loadEnv(environ, ".env")
	if err != nil {
		return nil, err
	}
	base := strings.TrimRight(e["FASTFLOW_URL"], "/")
	if base == "" {
		base = "http://localhost:8080"
	}
	if _, err := url.Parse(base); err != nil {
		return nil, fmt.Errorf("FASTFLOW_URL=%q: %w", base, err)
	}
	if e["FASTFLOW_TOKEN"] == "" {
		return nil, errors.New("FASTFLOW_TOKEN is not set: create one with `fastflow token create NAME` on the server")
	}
	// No overall timeout: log streams stay open as long as the run goes.
	return &apiClient{base: base, token: e["FASTFLOW_TOKEN"], http: &http.Client{}}, nil
}

// apiError is the server's {"error", "detail"} answer.
type apiError struct {
	Status int
	Msg    string          `json:"error"`
	Detail json.RawMessage `json:"detail"`
}

func (e *apiError) Error() string {
	msg := fmt.Sprintf("%s (HTTP %d)", e.Msg, e.Status)
	if len(e.Detail) > 0 && string(e.Detail) != "null" {
		msg += ": " + string(e.Detail)
	}
	return msg
}

func (c *apiClient) do(ctx context.Context, method, path string, body, out any, hdr http.Header) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 400 {
		defer resp.Body.Close()
		e := &apiError{Status: resp.StatusCode}
		if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(e); err != nil || e.Msg == "" {
			e.Msg = http.StatusText(resp.StatusCode)
		}
		return nil, e
	}
	if out == nil {
		return resp, nil
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return nil, fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return resp, nil
}

// runJSON is the part of the API's run the CLI shows.
type runJSON struct {
	ID         string     `json:"id"`
	Pipeline   string     `json:"pipeline"`
	Status     string     `json:"status"`
	ErrorType  string     `json:"error_type"`
	ExitCode   *int       `json:"exit_code"`
	Message    string     `json:"message"`
	Trigger    string     `json:"trigger"`
	QueuedAt   *time.Time `json:"queued_at"`
	Duration   *float64   `json:"duration_seconds"`
	FinishedAt *time.Time `json:"finished_at"`
}

func (r runJSON) final() bool {
	switch r.Status {
	case "", "PENDING", "RUNNING":
		return false
	}
	return true
}

// runCmd: fastflow run NAME [--param K=V]... [--follow]
func runCmd(ctx context.Context, args []string, stdout, stderr io.Writer, environ []string) error {
	follow := false
	var rest []string
	for _, a := range args {
		if a == "--follow" || a == "-f" {
			follow = true
			continue
		}
		rest = append(rest, a)
	}
	name, params, env, err := parseTryArgs(rest)
	if err != nil {
		return err
	}
	c, err := newAPIClient(environ)
	if err != nil {
		return err
	}
	var run runJSON
	body := map[string]any{"parameters": params, "env": env}
	if _, err := c.do(ctx, "POST", "/api/pipelines/"+url.PathEscape(name)+"/run", body, &run, nil); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "%s: run %s %s\n", name, run.ID, strings.ToLower(run.Status))
	if !follow {
		fmt.Fprintln(stdout, run.ID)
		return nil
	}
	if err := c.followLogs(ctx, run.ID, stdout); err != nil {
		return err
	}
	return c.finalExit(ctx, run.ID, stderr)
}

// finalExit waits for the run's final record and turns it into the exit
// status: the run's own exit code, or 1 for an end without one.
func (c *apiClient) finalExit(ctx context.Context, id string, stderr io.Writer) error {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		var run runJSON
		if _, err := c.do(ctx, "GET", "/api/runs/"+url.PathEscape(id), nil, &run, nil); err != nil {
			return err
		}
		if run.final() {
			fmt.Fprintf(stderr, "%s: %s", run.Pipeline, run.Status)
			if run.ErrorType != "" {
				fmt.Fprintf(stderr, " (%s)", run.ErrorType)
			}
			if run.Message != "" {
				fmt.Fprintf(stderr, ": %s", termText(run.Message))
			}
			fmt.Fprintln(stderr)
			switch {
			case run.Status == "SUCCESS":
				return nil
			case run.ExitCode != nil && *run.ExitCode != 0:
				return exitError{*run.ExitCode}
			default:
				return exitError{1}
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// followLogs prints the run's log from the SSE stream until it ends,
// reconnecting after a dropped connection from the last line it printed.
func (c *apiClient) followLogs(ctx context.Context, id string, stdout io.Writer) error {
	last := ""
	for attempt := 0; ; attempt++ {
		ended, lastID, err := c.streamOnce(ctx, id, last, stdout)
		if lastID != "" {
			last = lastID
		}
		if ended {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var apiErr *apiError
		if errors.As(err, &apiErr) || attempt >= 20 {
			return err
		}
		time.Sleep(min(time.Duration(attempt+1)*250*time.Millisecond, 3*time.Second))
	}
}

func (c *apiClient) streamOnce(ctx context.Context, id, lastID string, stdout io.Writer) (ended bool, last string, err error) {
	hdr := http.Header{"Accept": {"text/event-stream"}}
	if lastID != "" {
		hdr.Set("Last-Event-ID", lastID)
	}
	resp, err := c.do(ctx, "GET", "/api/runs/"+url.PathEscape(id)+"/logs/stream", nil, nil, hdr)
	if err != nil {
		return false, "", err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	var event, data, evID string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			switch event {
			case "end":
				return true, last, nil
			case "skipped":
				fmt.Fprintln(stdout, termText("[fastflow] "+data))
			case "", "message", "line":
				var l struct {
					Stream string `json:"stream"`
					Text   string `json:"text"`
				}
				if data != "" && json.Unmarshal([]byte(data), &l) == nil {
					if l.Stream != "" && l.Stream != "stdout" {
						fmt.Fprintln(stdout, termText("["+l.Stream+"] "+l.Text))
					} else {
						fmt.Fprintln(stdout, termText(l.Text))
					}
				}
			}
			if evID != "" {
				last = evID
			}
			event, data, evID = "", "", ""
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "event:"):
			event = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case strings.HasPrefix(line, "id:"):
			evID = strings.TrimSpace(strings.TrimPrefix(line, "id:"))
		case strings.HasPrefix(line, "data:"):
			if data != "" {
				data += "\n"
			}
			data += strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " ")
		}
	}
	return false, last, sc.Err()
}

// runsCmd: fastflow runs [PIPELINE]
func runsCmd(ctx context.Context, args []string, stdout io.Writer, environ []string) error {
	if err := noFlags(args); err != nil {
		return err
	}
	if len(args) > 1 {
		return fmt.Errorf("%w: runs takes at most one pipeline name", errUsage)
	}
	c, err := newAPIClient(environ)
	if err != nil {
		return err
	}
	q := url.Values{"limit": {"20"}}
	if len(args) == 1 {
		q.Set("pipeline", args[0])
	}
	var page struct {
		Items []runJSON `json:"items"`
	}
	if _, err := c.do(ctx, "GET", "/api/runs?"+q.Encode(), nil, &page, nil); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tPIPELINE\tSTATUS\tTRIGGER\tQUEUED\tDURATION")
	for _, r := range page.Items {
		queued, dur := "", ""
		if r.QueuedAt != nil {
			queued = r.QueuedAt.Local().Format("2006-01-02 15:04:05")
		}
		if r.Duration != nil {
			dur = strconv.FormatFloat(*r.Duration, 'f', 1, 64) + "s"
		}
		status := r.Status
		if r.ErrorType != "" {
			status += " (" + r.ErrorType + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Pipeline, status, r.Trigger, queued, dur)
	}
	return tw.Flush()
}

// cancelCmd: fastflow cancel ID
func cancelCmd(ctx context.Context, args []string, stdout io.Writer, environ []string) error {
	if err := noFlags(args); err != nil {
		return err
	}
	if len(args) != 1 {
		return fmt.Errorf("%w: cancel takes one run ID", errUsage)
	}
	c, err := newAPIClient(environ)
	if err != nil {
		return err
	}
	if _, err := c.do(ctx, "POST", "/api/runs/"+url.PathEscape(args[0])+"/cancel", nil, nil, nil); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "cancelling %s\n", args[0])
	return nil
}

// logsCmd: fastflow logs ID [-f]
func logsCmd(ctx context.Context, args []string, stdout io.Writer, environ []string) error {
	follow := false
	var id string
	for _, a := range args {
		switch {
		case a == "-f" || a == "--follow":
			follow = true
		case strings.HasPrefix(a, "-"):
			return fmt.Errorf("%w: unknown flag %s", errUsage, a)
		case id == "":
			id = a
		default:
			return fmt.Errorf("%w: logs takes one run ID", errUsage)
		}
	}
	if id == "" {
		return fmt.Errorf("%w: logs needs a run ID", errUsage)
	}
	c, err := newAPIClient(environ)
	if err != nil {
		return err
	}
	if follow {
		return c.followLogs(ctx, id, stdout)
	}
	resp, err := c.do(ctx, "GET", "/api/runs/"+url.PathEscape(id)+"/logs?download=1", nil, nil, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return copyTermLines(stdout, resp.Body)
}

// copyTermLines copies the stored log in r to w a line at a time, each as
// termText makes it.
func copyTermLines(w io.Writer, r io.Reader) error {
	br := bufio.NewReaderSize(r, 64<<10)
	bw := bufio.NewWriterSize(w, 64<<10)
	for {
		line, err := br.ReadString('\n')
		if line != "" {
			text, nl := strings.CutSuffix(line, "\n")
			bw.WriteString(termText(text))
			if nl {
				bw.WriteByte('\n')
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			_ = bw.Flush()
			return fmt.Errorf("read log: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write log: %w", err)
	}
	return nil
}

// zeroWidth are the runes a terminal draws in no column of their own: the
// masker's invisible runes (format characters, combining marks, variation
// selectors, the other default-ignorable code points).
var zeroWidth = []*unicode.RangeTable{
	unicode.Cf, unicode.Mn, unicode.Me, unicode.Variation_Selector, unicode.Other_Default_Ignorable_Code_Point,
}

// termText is one line of a log as the CLI prints it, to a terminal or
// not (a file printed later reaches one too). It is the text the secret
// masker looked at, as the web UI shows it: logs.Neutralize keeps SGR
// colours and drops every other escape sequence and control character, so
// no cursor movement, \r or \b can overwrite text into a secret the
// masker never saw. The server stores lines neutralised already; this
// holds for logs stored before it did, and for servers that do not. Tabs
// become spaces up to the next multiple of eight columns: at a terminal's
// right margin a tab stays put and the next character overwrites the last
// column. A line that sets colours ends with a reset, as each line of the
// web UI starts plain.
func termText(s string) string {
	s = logs.Neutralize(s)
	hasTab, hasESC := strings.IndexByte(s, '\t') >= 0, strings.IndexByte(s, 0x1b) >= 0
	if !hasTab && !hasESC {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	col := 0
	for i := 0; i < len(s); {
		switch c := s[i]; {
		case c == 0x1b:
			// Neutralize keeps only whole SGR sequences, ESC [ params m:
			// they take no column.
			end := strings.IndexByte(s[i:], 'm')
			if end < 0 {
				end = len(s) - i - 1 // cannot happen; keep the rest as it is
			}
			b.WriteString(s[i : i+end+1])
			i += end + 1
		case c == '\t':
			n := 8 - col%8
			b.WriteString("        "[:n])
			col += n
			i++
		case c < utf8.RuneSelf:
			b.WriteByte(c)
			col++
			i++
		default:
			r, size := utf8.DecodeRuneInString(s[i:])
			b.WriteString(s[i : i+size])
			if !unicode.In(r, zeroWidth...) {
				col++ // wide runes miscount: only alignment suffers
			}
			i += size
		}
	}
	if hasESC {
		b.WriteString("\x1b[0m")
	}
	return b.String()
}
