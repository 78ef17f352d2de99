// Package telemetry exports Fast-Flow's Prometheus metrics. A Telemetry owns
// its own prometheus.Registry (never the global default one): counters and
// histograms move on the events of a status.Store it wraps (runs started and
// finished, schedule fires, syncs) and on webhook deliveries the web UI
// reports; gauges (running and queued runs, Docker, pending check-run
// reports, live pipelines) are read when Prometheus scrapes.
//
// Label cardinality is bounded: a pipeline label carries the name only of a
// pipeline of the live revision; any other name is folded into OtherPipeline.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/fastflow-dev/fastflow/status"
)

// OtherPipeline is the pipeline label of runs of pipelines that are not in
// the live revision (removed ones, or before the first sync).
const OtherPipeline = "_other"

// Webhook delivery outcomes, by the answer the receiver gave.
const (
	WebhookAccepted = "accepted" // 2xx
	WebhookRefused  = "refused"  // 401/403: missing or bad signature
	WebhookInvalid  = "invalid"  // other 4xx
	WebhookError    = "error"    // 5xx
)

// Config configures a Telemetry.
type Config struct {
	// Version, Commit and Schema label fastflow_build_info.
	Version, Commit string
	Schema          int64
	// IsLive reports whether a pipeline of that name is in the live
	// revision; nil folds every pipeline into OtherPipeline. It is called
	// once per event, so it should be a map look-up.
	IsLive func(name string) bool
	// DockerPing is called at scrape time for fastflow_docker_up; nil
	// leaves the gauge out.
	DockerPing func(ctx context.Context) error
	// Leader is asked at scrape time for fastflow_leader: this replica's
	// ID and whether it holds the leader lease; nil leaves it out.
	Leader func() (replica string, leader bool)
	// Queue is read at scrape time for the running and queued gauges; nil
	// leaves them out.
	Queue status.RunStore
	// ChecksPending is called at scrape time for fastflow_checks_pending,
	// the check-run reports waiting for delivery to GitHub
	// (checks.Reporter.Pending); nil, as without a GitHub App, leaves the
	// gauge out rather than claim an empty queue that does not exist.
	ChecksPending func() int
	// ScrapeTimeout bounds the probes a scrape makes (default 2s).
	ScrapeTimeout time.Duration
	// Clock is the time source for fire delays and queue ages; nil is
	// time.Now.
	Clock  func() time.Time
	Logger *slog.Logger
}

// Validate fills in defaults.
func (c *Config) Validate() error {
	if c.ScrapeTimeout < 0 {
		return errors.New("telemetry: ScrapeTimeout must not be negative")
	}
	if c.ScrapeTimeout == 0 {
		c.ScrapeTimeout = 2 * time.Second
	}
	if c.Version == "" {
		c.Version = "devel"
	}
	if c.Commit == "" {
		c.Commit = "unknown"
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Telemetry holds the registry and its metrics. Its methods are safe for
// concurrent use; it starts no goroutine.
type Telemetry struct {
	cfg Config
	reg *prometheus.Registry

	runsStarted  *prometheus.CounterVec
	runsFinished *prometheus.CounterVec
	runDuration  *prometheus.HistogramVec
	setup        prometheus.Histogram
	fireDelay    prometheus.Histogram
	syncDuration prometheus.Histogram
	syncs        *prometheus.CounterVec
	lastSync     prometheus.Gauge
	webhooks     *prometheus.CounterVec
	lastFailed   *prometheus.GaugeVec
	lastDuration *prometheus.GaugeVec
	removed      *prometheus.CounterVec
}

// New builds the registry with every metric, the Go and process collectors.
func New(cfg Config) (*Telemetry, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	t := &Telemetry{cfg: cfg, reg: prometheus.NewRegistry()}
	// No histogram carries a pipeline label: with 1,000 pipelines that
	// alone would be 10,000 lines or more a scrape, over the 20 ms
	// budget (BenchmarkScrape). A pipeline gets its last duration.
	durations := []float64{1, 10, 60, 300, 900, 1800, 3600, 7200, 21600}
	t.runsStarted = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "fastflow_runs_started_total", Help: "Runs whose container started, by pipeline and trigger.",
	}, []string{"pipeline", "trigger"})
	t.runsFinished = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "fastflow_runs_finished_total", Help: "Runs that reached a final status, by pipeline, status and error type.",
	}, []string{"pipeline", "status", "error_type"})
	t.runDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "fastflow_run_duration_seconds", Help: "Time from a run's start to its end, by final status.",
		Buckets: durations,
	}, []string{"status"})
	t.lastDuration = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "fastflow_pipeline_last_run_duration_seconds", Help: "Duration of the latest finished run of a pipeline (since this process started).",
	}, []string{"pipeline"})
	t.setup = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "fastflow_run_setup_duration_seconds", Help: "Time uv took to prepare a run's environment.",
		Buckets: []float64{0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300},
	})
	t.fireDelay = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "fastflow_schedule_fire_delay_seconds", Help: "How late a scheduled fire was claimed after its due time.",
		Buckets: []float64{0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600},
	})
	t.syncDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "fastflow_sync_duration_seconds", Help: "Time one repository sync took.",
		Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120},
	})
	t.syncs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "fastflow_syncs_total", Help: "Repository syncs by outcome (updated, unchanged, failed).",
	}, []string{"outcome"})
	t.lastSync = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "fastflow_last_successful_sync_timestamp_seconds", Help: "Unix time of the last sync that succeeded (0 before the first).",
	})
	t.webhooks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "fastflow_webhook_deliveries_total", Help: "GitHub webhook deliveries by outcome (accepted, refused, invalid, error).",
	}, []string{"outcome"})
	t.lastFailed = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "fastflow_pipeline_last_run_failed", Help: "1 when the latest finished run of a pipeline failed or timed out, 0 when it succeeded (since this process started).",
	}, []string{"pipeline"})
	t.removed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "fastflow_housekeeping_removed_total", Help: "Objects removed by retention, the janitor and the uv cache trimming, by component and kind.",
	}, []string{"component", "kind"})
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "fastflow_build_info", Help: "Always 1; the labels name the build.",
		ConstLabels: prometheus.Labels{"version": cfg.Version, "commit": cfg.Commit, "schema": strconv.FormatInt(cfg.Schema, 10)},
	})
	build.Set(1)
	for _, o := range []string{WebhookAccepted, WebhookRefused, WebhookInvalid, WebhookError} {
		t.webhooks.WithLabelValues(o)
	}
	for _, o := range []string{"updated", "unchanged", "failed"} {
		t.syncs.WithLabelValues(o)
	}
	for _, c := range []prometheus.Collector{
		t.runsStarted, t.runsFinished, t.runDuration, t.setup, t.fireDelay,
		t.syncDuration, t.syncs, t.lastSync, t.webhooks, t.lastFailed, t.lastDuration, t.removed, build,
		&scrapeCollector{t: t},
		&leaderCollector{t: t},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := t.reg.Register(c); err != nil {
			return nil, fmt.Errorf("telemetry: register: %w", err)
		}
	}
	return t, nil
}

// Registry is the registry Handler serves, for tests and further collectors.
func (t *Telemetry) Registry() *prometheus.Registry { return t.reg }

// Handler serves the registry in the Prometheus exposition formats. It
// checks no credentials: its caller decides who may reach it.
func (t *Telemetry) Handler() http.Handler {
	return promhttp.HandlerFor(t.reg, promhttp.HandlerOpts{
		ErrorLog:          slog.NewLogLogger(t.cfg.Logger.Handler(), slog.LevelError),
		ErrorHandling:     promhttp.ContinueOnError,
		Registry:          t.reg, // promhttp_metric_handler_errors_total
		EnableOpenMetrics: true,
	})
}

// WebhookDelivered counts one webhook delivery with one of the Webhook*
// outcomes.
func (t *Telemetry) WebhookDelivered(outcome string) {
	t.webhooks.WithLabelValues(outcome).Inc()
}

// Removed counts n objects of one kind removed by retention or the
// janitor; it is the operator.Observer the operator reports to. component
// and kind come from the operator's fixed sets, so the label values stay
// few.
func (t *Telemetry) Removed(component, kind string, n int) {
	if n > 0 {
		t.removed.WithLabelValues(component, kind).Add(float64(n))
	}
}

// WebhookOutcome maps the status code the receiver answered to an outcome.
func WebhookOutcome(code int) string {
	switch {
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return WebhookRefused
	case code >= 500:
		return WebhookError
	case code >= 400:
		return WebhookInvalid
	default:
		return WebhookAccepted
	}
}

// RunStarted records that run's container started.
func (t *Telemetry) RunStarted(r status.Run) {
	t.runsStarted.WithLabelValues(t.pipeline(r.Pipeline), string(r.Trigger)).Inc()
}

// RunFinished records a run that reached its final status.
func (t *Telemetry) RunFinished(r status.Run) {
	p := t.pipeline(r.Pipeline)
	t.runsFinished.WithLabelValues(p, string(r.Status), string(r.ErrorType)).Inc()
	if !r.StartedAt.IsZero() && !r.FinishedAt.IsZero() && !r.FinishedAt.Before(r.StartedAt) {
		d := r.FinishedAt.Sub(r.StartedAt).Seconds()
		t.runDuration.WithLabelValues(string(r.Status)).Observe(d)
		t.lastDuration.WithLabelValues(p).Set(d)
	}
	switch r.Status {
	case status.RunSuccess:
		t.lastFailed.WithLabelValues(p).Set(0)
	case status.RunFailed, status.RunTimeout:
		t.lastFailed.WithLabelValues(p).Set(1)
	}
	if r.SetupDuration > 0 {
		t.setup.Observe(r.SetupDuration.Seconds())
	}
}

// Fired records a schedule fire claimed now for its due time.
func (t *Telemetry) Fired(f status.Fire) {
	d := t.cfg.Clock().Sub(f.FireAt)
	if d < 0 {
		d = 0
	}
	t.fireDelay.Observe(d.Seconds())
}

// Synced records one finished sync.
func (t *Telemetry) Synced(ev status.SyncEvent) {
	outcome := ev.Outcome
	if ev.Error != "" {
		outcome = "failed"
	}
	switch outcome {
	case "updated", "unchanged", "failed":
	default:
		outcome = "failed"
	}
	t.syncs.WithLabelValues(outcome).Inc()
	if !ev.StartedAt.IsZero() && !ev.FinishedAt.Before(ev.StartedAt) {
		t.syncDuration.Observe(ev.FinishedAt.Sub(ev.StartedAt).Seconds())
	}
	if outcome != "failed" && !ev.FinishedAt.IsZero() {
		t.lastSync.Set(float64(ev.FinishedAt.UnixNano()) / 1e9)
	}
}

// pipeline is the label for name: itself for a live pipeline, else
// OtherPipeline.
func (t *Telemetry) pipeline(name string) string {
	if t.cfg.IsLive != nil && t.cfg.IsLive(name) {
		return name
	}
	return OtherPipeline
}
