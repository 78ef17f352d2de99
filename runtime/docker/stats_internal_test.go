package docker

import (
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/google/go-cmp/cmp"

	"github.com/fastflow-dev/fastflow/runtime"
)

func TestSample(t *testing.T) {
	t.Parallel()
	raw := func(online uint32, percpu int, stats map[string]uint64) *container.StatsResponse {
		r := &container.StatsResponse{}
		r.Read = t0
		r.CPUStats.CPUUsage.TotalUsage = 5e9
		r.CPUStats.CPUUsage.PercpuUsage = make([]uint64, percpu)
		r.CPUStats.SystemUsage = 8e10
		r.CPUStats.OnlineCPUs = online
		r.CPUStats.ThrottlingData = container.ThrottlingData{Periods: 100, ThrottledPeriods: 7}
		r.MemoryStats = container.MemoryStats{Usage: 100 << 20, Limit: 256 << 20, Stats: stats}
		return r
	}
	want := func(cpus int, mem uint64) runtime.Sample {
		return runtime.Sample{
			Time: t0, CPUTotalNs: 5e9, SystemCPUNs: 8e10, OnlineCPUs: cpus, MemoryBytes: mem,
			MemoryLimitBytes: 256 << 20, ThrottledPeriods: 7, TotalPeriods: 100,
		}
	}
	tests := []struct {
		name string
		raw  *container.StatsResponse
		want runtime.Sample
	}{
		{"cgroup v1 excludes the inactive file cache", raw(2, 0, map[string]uint64{"cache": 30 << 20, "total_inactive_file": 20 << 20}), want(2, 80<<20)},
		{"cgroup v2 excludes inactive_file", raw(2, 0, map[string]uint64{"inactive_file": 10 << 20, "active_file": 5 << 20}), want(2, 90<<20)},
		{"only the page cache is known", raw(2, 0, map[string]uint64{"cache": 30 << 20}), want(2, 70<<20)},
		{"no breakdown", raw(2, 0, nil), want(2, 100<<20)},
		{"a cache larger than the usage is ignored", raw(2, 0, map[string]uint64{"total_inactive_file": 200 << 20}), want(2, 100<<20)},
		{"online CPUs from the per-CPU figures of old daemons", raw(0, 4, nil), want(4, 100<<20)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tt.want, sample(tt.raw)); diff != "" {
				t.Errorf("sample (-want +got):\n%s", diff)
			}
		})
	}
}
