package telemetry

import "github.com/prometheus/client_golang/prometheus"

var descLeader = prometheus.NewDesc("fastflow_leader",
	"1 while this replica holds the leader lease (runs the scheduler, retention and the janitor), else 0.",
	[]string{"replica"}, nil)

// leaderCollector reports the leadership as it is at scrape time, so a
// failover shows in the next scrape of each replica: sum(fastflow_leader)
// over the replicas is 1 in a healthy installation.
type leaderCollector struct{ t *Telemetry }

func (c *leaderCollector) Describe(ch chan<- *prometheus.Desc) {
	if c.t.cfg.Leader != nil {
		ch <- descLeader
	}
}

func (c *leaderCollector) Collect(ch chan<- prometheus.Metric) {
	if c.t.cfg.Leader == nil {
		return
	}
	id, leader := c.t.cfg.Leader()
	v := 0.0
	if leader {
		v = 1
	}
	ch <- prometheus.MustNewConstMetric(descLeader, prometheus.GaugeValue, v, id)
}
