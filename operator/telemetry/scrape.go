package telemetry

import (
	"context"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fastflow-dev/fastflow/status"
)

var (
	descRunning = prometheus.NewDesc("fastflow_runs_running",
		"Runs in status RUNNING now.", nil, nil)
	descQueued = prometheus.NewDesc("fastflow_runs_queued",
		"Runs in status PENDING now (waiting for a slot, a retry delay or pre-heat).", nil, nil)
	descOldestQueued = prometheus.NewDesc("fastflow_runs_oldest_queued_age_seconds",
		"Age of the oldest PENDING run (0 when none waits).", nil, nil)
	descDockerUp = prometheus.NewDesc("fastflow_docker_up",
		"1 when the Docker daemon answered a ping at scrape time, else 0.", nil, nil)
	descChecksPending = prometheus.NewDesc("fastflow_checks_pending",
		"GitHub check-run reports waiting for delivery (queued or being retried).", nil, nil)
)

// scrapeCollector reads the gauges that are cheaper to compute than to keep
// in step: the store's running and queued runs, a Docker ping and the
// check-run reporter's queue length. Each
// scrape asks the store three small indexed questions, whatever the number
// of runs and pipelines.
type scrapeCollector struct{ t *Telemetry }

func (c *scrapeCollector) Describe(ch chan<- *prometheus.Desc) {
	if c.t.cfg.Queue != nil {
		ch <- descRunning
		ch <- descQueued
		ch <- descOldestQueued
	}
	if c.t.cfg.DockerPing != nil {
		ch <- descDockerUp
	}
	if c.t.cfg.ChecksPending != nil {
		ch <- descChecksPending
	}
}

func (c *scrapeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.t.cfg.ScrapeTimeout)
	defer cancel()
	if q := c.t.cfg.Queue; q != nil {
		c.collectQueue(ctx, q, ch)
	}
	if ping := c.t.cfg.DockerPing; ping != nil {
		up := 1.0
		if err := ping(ctx); err != nil {
			up = 0
		}
		ch <- prometheus.MustNewConstMetric(descDockerUp, prometheus.GaugeValue, up)
	}
	if pending := c.t.cfg.ChecksPending; pending != nil {
		ch <- prometheus.MustNewConstMetric(descChecksPending, prometheus.GaugeValue, float64(pending()))
	}
}

func (c *scrapeCollector) collectQueue(ctx context.Context, q status.RunStore, ch chan<- prometheus.Metric) {
	running, err := countRuns(ctx, q, status.RunRunning)
	if err != nil {
		c.t.cfg.Logger.Warn("metrics: count running runs", "err", err)
		ch <- prometheus.NewInvalidMetric(descRunning, err)
	} else {
		ch <- prometheus.MustNewConstMetric(descRunning, prometheus.GaugeValue, float64(running))
	}
	queued, err := countRuns(ctx, q, status.RunPending)
	if err != nil {
		c.t.cfg.Logger.Warn("metrics: count queued runs", "err", err)
		ch <- prometheus.NewInvalidMetric(descQueued, err)
	} else {
		ch <- prometheus.MustNewConstMetric(descQueued, prometheus.GaugeValue, float64(queued))
	}
	page, err := q.ListRuns(ctx, status.RunFilter{Statuses: []status.RunStatus{status.RunPending}, Order: status.OrderAsc, Limit: 1})
	if err != nil {
		ch <- prometheus.NewInvalidMetric(descOldestQueued, err)
		return
	}
	age := 0.0
	if len(page.Runs) > 0 && !page.Runs[0].QueuedAt.IsZero() {
		if d := c.t.cfg.Clock().Sub(page.Runs[0].QueuedAt); d > 0 {
			age = d.Seconds()
		}
	}
	ch <- prometheus.MustNewConstMetric(descOldestQueued, prometheus.GaugeValue, age)
}

// countRuns pages through the runs in st. Running runs are bounded by
// MAX_CONCURRENT_RUNS and queued ones by the queue, so this is a page or two.
func countRuns(ctx context.Context, q status.RunStore, st status.RunStatus) (int, error) {
	f := status.RunFilter{Statuses: []status.RunStatus{st}, Limit: 1000}
	n := 0
	for {
		page, err := q.ListRuns(ctx, f)
		if err != nil {
			return 0, fmt.Errorf("list %s runs: %w", st, err)
		}
		n += len(page.Runs)
		if page.NextCursor == "" || len(page.Runs) == 0 {
			return n, nil
		}
		f.Cursor = page.NextCursor
	}
}
