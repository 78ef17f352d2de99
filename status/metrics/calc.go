package metrics

import (
	"math"
	"sync"
	"time"

	"github.com/fastflow-dev/fastflow/runtime"
)

// bytesPerMiB converts byte counts to the MiB the points carry.
const bytesPerMiB = 1 << 20

// Throttling by CPU level: when the hard limit is set and the CPU sits
// within hardBand of it for hardStreak consecutive points, the run is
// flagged throttled even if the backend reports no throttled periods.
const (
	hardBand   = 0.05
	hardStreak = 3
)

// Point is one CPU/RAM reading of a run, as stored and streamed.
type Point struct {
	Timestamp         time.Time `json:"timestamp"`
	CPUPercent        float64   `json:"cpu_percent"`
	RAMMB             float64   `json:"ram_mb"`
	RAMLimitMB        float64   `json:"ram_limit_mb"`
	SoftLimitExceeded bool      `json:"soft_limit_exceeded"`
	Throttled         bool      `json:"throttled"`
	// N numbers the points of a run from 1 (the line of the metrics file),
	// the event ID of the live stream. The Writer sets it.
	N int64 `json:"-"`
}

// Seq returns the point's number, so that points travel through a logs.Hub.
func (p Point) Seq() int64 { return p.N }

// Limits are the pipeline's limits a Calculator watches. Zero means unset.
type Limits struct {
	CPUSoft      float64 // cores (cpu_soft_limit)
	MemSoftBytes int64   // mem_soft_limit
	CPUHard      float64 // cores (cpu_hard_limit)
}

// Calculator turns consecutive samples of one run into points and tracks the
// run's peaks. Add is meant for the run's stats goroutine; Peak may be read
// from any goroutine.
type Calculator struct {
	limits Limits

	mu      sync.Mutex
	prev    runtime.Sample
	hasPrev bool
	streak  int // consecutive points near the hard limit

	peakCPU, peakRAM float64
	exceeded         bool
}

// NewCalculator returns a calculator watching limits.
func NewCalculator(limits Limits) *Calculator {
	return &Calculator{limits: limits}
}

// Add returns the point for s, computed against the previous sample.
//
// CPU is the plan's delta formula, (cpu_delta / system_delta) * online_cpus *
// 100, so one busy core reads 100. The first sample has nothing to compare
// with and reads 0 % CPU (its RAM is real); a sample whose counters went
// backwards (a backend reset) also reads 0 and starts over. Zero online CPUs
// count as one.
//
// Soft limits: the point is flagged when cpu_percent > CPUSoft*100 or the
// memory in use > MemSoftBytes.
//
// Throttling: the point is flagged when the kernel throttled the container
// during this interval (the throttled-periods counter grew), or when CPUHard
// is set and the CPU has stayed within 5 % of it for this and the two
// previous points, the plan's "CPU sticks at the hard limit", for backends
// that do not report throttled periods.
func (c *Calculator) Add(s runtime.Sample) Point {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := Point{
		Timestamp:  s.Time.UTC(),
		RAMMB:      round2(float64(s.MemoryBytes) / bytesPerMiB),
		RAMLimitMB: round2(float64(s.MemoryLimitBytes) / bytesPerMiB),
	}
	throttledPeriods := false
	if c.hasPrev && s.CPUTotalNs >= c.prev.CPUTotalNs && s.SystemCPUNs > c.prev.SystemCPUNs {
		cpuDelta := float64(s.CPUTotalNs - c.prev.CPUTotalNs)
		sysDelta := float64(s.SystemCPUNs - c.prev.SystemCPUNs)
		p.CPUPercent = round2(cpuDelta / sysDelta * float64(max(s.OnlineCPUs, 1)) * 100)
		throttledPeriods = s.ThrottledPeriods > c.prev.ThrottledPeriods
	}
	c.prev, c.hasPrev = s, true

	if c.limits.CPUHard > 0 && p.CPUPercent >= c.limits.CPUHard*100*(1-hardBand) {
		c.streak++
	} else {
		c.streak = 0
	}
	p.Throttled = throttledPeriods || c.streak >= hardStreak
	p.SoftLimitExceeded = (c.limits.CPUSoft > 0 && p.CPUPercent > c.limits.CPUSoft*100) ||
		(c.limits.MemSoftBytes > 0 && s.MemoryBytes > uint64(c.limits.MemSoftBytes))

	c.peakCPU = max(c.peakCPU, p.CPUPercent)
	c.peakRAM = max(c.peakRAM, p.RAMMB)
	c.exceeded = c.exceeded || p.SoftLimitExceeded
	return p
}

// Peak returns the highest CPU percentage and RAM (MiB) seen so far and
// whether any point exceeded a soft limit, for the run record.
func (c *Calculator) Peak() (cpu, ramMB float64, softExceeded bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.peakCPU, c.peakRAM, c.exceeded
}

// round2 keeps two decimals: the figures are for people and charts, and the
// files stay short.
func round2(v float64) float64 { return math.Round(v*100) / 100 }
