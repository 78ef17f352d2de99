package checks

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/google/go-github/v62/github"

	"github.com/fastflow-dev/fastflow/status"
)

// GitHub's limits for one check-run request.
const (
	maxAnnotations = 50 // per create or update; updates append
	maxLogLines    = 50
)

type kind int

const (
	kindValidation kind = iota
	kindRunStarted
	kindRunFinished
)

func (k kind) String() string {
	switch k {
	case kindValidation:
		return "validation"
	case kindRunStarted:
		return "run_started"
	case kindRunFinished:
		return "run_finished"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// report is one queued event. The fields below the line are progress and
// belong to the Run goroutine while inflight is set.
type report struct {
	key       string // reports with one key are delivered in order
	kind      kind
	enqueued  time.Time
	notBefore time.Time
	inflight  bool // guarded by Reporter.mu

	sha      string
	problems []Problem
	run      status.Run
	logTail  []string

	// ---
	attempts int
	lastErr  error
	// checkRunID and batchesSent let a validation with several annotation
	// batches resume after a failed batch instead of starting over, which
	// would create a second check run.
	checkRunID  int64
	batchesSent int
}

// client returns a go-github client for one attempt. A fresh client per
// attempt picks up a renewed installation token and, on purpose, forgets
// go-github's own rate-limit bookkeeping: it judges the reset against the
// wall clock and would short-circuit requests behind our retry schedule.
func (r *Reporter) client(ctx context.Context) (*github.Client, error) {
	token, err := r.cfg.Token(ctx)
	if err != nil {
		return nil, fmt.Errorf("installation token: %w", err)
	}
	c := github.NewClient(r.cfg.HTTPClient).WithAuthToken(token)
	c.BaseURL = r.apiURL
	return c, nil
}

// send performs the requests rep still needs.
func (r *Reporter) send(ctx context.Context, rep *report) error {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	gh, err := r.client(ctx)
	if err != nil {
		return err
	}
	checks := gh.Checks
	owner, repo := r.cfg.Owner, r.cfg.Repo
	switch rep.kind {
	case kindValidation:
		batches := validationBatches(rep.problems)
		for rep.batchesSent < len(batches) {
			out := validationOutput(rep.sha, rep.problems, batches[rep.batchesSent])
			if rep.checkRunID == 0 {
				// Created completed with its conclusion right away, so the
				// verdict shows even if a later annotation batch is lost.
				cr, _, err := checks.CreateCheckRun(ctx, owner, repo, github.CreateCheckRunOptions{
					Name:        validateCheckName,
					HeadSHA:     rep.sha,
					Status:      github.String("completed"),
					Conclusion:  github.String(validationConclusion(rep.problems)),
					CompletedAt: &github.Timestamp{Time: rep.enqueued.UTC()},
					Output:      out,
				})
				if err != nil {
					return fmt.Errorf("create check run %s: %w", validateCheckName, err)
				}
				rep.checkRunID = cr.GetID()
			} else {
				_, _, err := checks.UpdateCheckRun(ctx, owner, repo, rep.checkRunID, github.UpdateCheckRunOptions{
					Name:   validateCheckName,
					Output: out,
				})
				if err != nil {
					return fmt.Errorf("update check run %d: %w", rep.checkRunID, err)
				}
			}
			rep.batchesSent++
		}
		return nil

	case kindRunStarted:
		run := rep.run
		started := run.StartedAt
		if started.IsZero() {
			started = rep.enqueued
		}
		cr, _, err := checks.CreateCheckRun(ctx, owner, repo, github.CreateCheckRunOptions{
			Name:       runCheckName(run),
			HeadSHA:    run.Revision,
			DetailsURL: r.detailsURL(run),
			ExternalID: github.String(run.ID),
			Status:     github.String("in_progress"),
			StartedAt:  &github.Timestamp{Time: started.UTC()},
			Output: &github.CheckRunOutput{
				Title:   github.String("Running"),
				Summary: github.String(runningSummary(run)),
			},
		})
		if err != nil {
			return fmt.Errorf("create check run %s: %w", runCheckName(run), err)
		}
		r.checkRuns[run.ID] = cr.GetID()
		return nil

	case kindRunFinished:
		run := rep.run
		finished := run.FinishedAt
		if finished.IsZero() {
			finished = rep.enqueued
		}
		out := finishedOutput(run, rep.logTail)
		conclusion := github.String(conclusionFor(run.Status))
		if id, ok := r.checkRuns[run.ID]; ok {
			_, _, err := checks.UpdateCheckRun(ctx, owner, repo, id, github.UpdateCheckRunOptions{
				Name:        runCheckName(run),
				Status:      github.String("completed"),
				Conclusion:  conclusion,
				CompletedAt: &github.Timestamp{Time: finished.UTC()},
				Output:      out,
			})
			if err != nil {
				return fmt.Errorf("update check run %d: %w", id, err)
			}
		} else {
			// RunStarted was dropped or never made (a run that failed
			// before starting, or one finished after a restart).
			opts := github.CreateCheckRunOptions{
				Name:        runCheckName(run),
				HeadSHA:     run.Revision,
				DetailsURL:  r.detailsURL(run),
				ExternalID:  github.String(run.ID),
				Status:      github.String("completed"),
				Conclusion:  conclusion,
				CompletedAt: &github.Timestamp{Time: finished.UTC()},
				Output:      out,
			}
			if !run.StartedAt.IsZero() {
				opts.StartedAt = &github.Timestamp{Time: run.StartedAt.UTC()}
			}
			if _, _, err := checks.CreateCheckRun(ctx, owner, repo, opts); err != nil {
				return fmt.Errorf("create check run %s: %w", runCheckName(run), err)
			}
		}
		delete(r.checkRuns, run.ID)
		return nil
	}
	return fmt.Errorf("unknown report kind %v", rep.kind)
}

func (r *Reporter) detailsURL(run status.Run) *string {
	if r.cfg.BaseURL == "" {
		return nil
	}
	return github.String(r.cfg.BaseURL + "/runs/" + url.PathEscape(run.ID))
}

// verdict is what to do about a failed attempt.
type verdict struct {
	retry       bool
	delay       time.Duration
	rateLimited bool // GitHub limits the whole installation: pause everything
}

// classify splits failures into retryable and permanent. It reads the HTTP
// response itself rather than trusting go-github's error types alone,
// because go-github reports 429 as a plain ErrorResponse and computes
// Retry-After deadlines against the wall clock, not the Reporter's.
func classify(err error, attempts int, now time.Time, minDelay, maxDelay time.Duration) verdict {
	backoff := minDelay << min(attempts-1, 30)
	if backoff <= 0 || backoff > maxDelay {
		backoff = maxDelay
	}
	resp := responseOf(err)
	if resp == nil {
		// No answer from GitHub: network trouble, a timeout, no token, or
		// a 202 without a body (go-github's AcceptedError).
		return verdict{retry: true, delay: backoff}
	}
	h, code := resp.Header, resp.StatusCode
	retryAfter, hasRetryAfter := parseRetryAfter(h.Get("Retry-After"), now)
	reset, hasReset := parseReset(h.Get("X-RateLimit-Reset"), now)
	exhausted := h.Get("X-RateLimit-Remaining") == "0"
	var abuse *github.AbuseRateLimitError
	switch {
	case code == http.StatusTooManyRequests,
		code == http.StatusForbidden && (exhausted || hasRetryAfter || errors.As(err, &abuse)):
		// GitHub's documented order: Retry-After, then the reset of an
		// exhausted quota, else at least a minute.
		d := max(time.Minute, backoff)
		switch {
		case hasRetryAfter:
			d = retryAfter
		case hasReset && (exhausted || code == http.StatusTooManyRequests):
			d = reset
		}
		return verdict{retry: true, delay: max(d, minDelay), rateLimited: true}
	case code >= 500:
		if hasRetryAfter {
			return verdict{retry: true, delay: max(retryAfter, minDelay)}
		}
		return verdict{retry: true, delay: backoff}
	case code >= 400:
		// Bad payload, unknown commit, missing permission: sending the same
		// request again would get the same answer.
		return verdict{}
	}
	return verdict{retry: true, delay: backoff}
}

// parseRetryAfter reads Retry-After as seconds or as an HTTP date.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil && secs >= 0 {
		return time.Duration(secs) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// parseReset reads X-RateLimit-Reset, a Unix time in seconds.
func parseReset(v string, now time.Time) (time.Duration, bool) {
	secs, err := strconv.ParseInt(v, 10, 64)
	if err != nil || secs <= 0 {
		return 0, false
	}
	return max(time.Unix(secs, 0).Sub(now), 0), true
}

func responseOf(err error) *http.Response {
	var (
		ghErr   *github.ErrorResponse
		rateErr *github.RateLimitError
		abuse   *github.AbuseRateLimitError
	)
	switch {
	case errors.As(err, &ghErr) && ghErr.Response != nil:
		return ghErr.Response
	case errors.As(err, &rateErr) && rateErr.Response != nil:
		return rateErr.Response
	case errors.As(err, &abuse) && abuse.Response != nil:
		return abuse.Response
	}
	return nil
}
