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
				fmt.Fprintf(stderr, ": %s", run.Message)
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
				fmt.Fprintf(stdout, "[fastflow] %s\n", data)
			case "", "message", "line":
				var l struct {
					Stream string `json:"stream"`
					Text   string `json:"text"`
				}
				if data != "" && json.Unmarshal([]byte(data), &l) == nil {
					if l.Stream != "" && l.Stream != "stdout" {
						fmt.Fprintf(stdout, "[%s] %s\n", l.Stream, l.Text)
					} else {
						fmt.Fprintln(stdout, l.Text)
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
	_, err = io.Copy(stdout, resp.Body)
	return err
}
