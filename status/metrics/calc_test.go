package metrics

import (
	"testing"
	"time"

	"github.com/fastflow-dev/fastflow/runtime"
	"github.com/google/go-cmp/cmp"
)

var t0 = time.Date(2026, 11, 27, 5, 0, 0, 0, time.UTC)

const sec = uint64(time.Second)

// sample builds a cumulative reading at second i.
func sample(i int, cpuNs, sysNs uint64, cpus int, memMiB float64, throttled uint64) runtime.Sample {
	return runtime.Sample{
		Time:             t0.Add(time.Duration(i) * time.Second),
		CPUTotalNs:       cpuNs,
		SystemCPUNs:      sysNs,
		OnlineCPUs:       cpus,
		MemoryBytes:      uint64(memMiB * (1 << 20)),
		MemoryLimitBytes: 512 << 20,
		ThrottledPeriods: throttled,
	}
}

func TestCalculator(t *testing.T) {
	t.Parallel()
	type want struct {
		cpu, ram  float64
		soft, thr bool
	}
	tests := []struct {
		name    string
		limits  Limits
		samples []runtime.Sample
		want    []want
		peakCPU float64
		peakRAM float64
		peakExc bool
	}{
		{
			name: "delta formula: half a core on a 4-core host",
			// system time grows 4 s per second on 4 CPUs; the container used
			// 0.5 s: (0.5/4) * 4 * 100 = 50 %.
			samples: []runtime.Sample{
				sample(0, 10*sec, 1000*sec, 4, 100, 0),
				sample(1, 10*sec+sec/2, 1004*sec, 4, 128.5, 0),
			},
			want:    []want{{0, 100, false, false}, {50, 128.5, false, false}},
			peakCPU: 50, peakRAM: 128.5,
		},
		{
			name: "two busy cores read 200",
			samples: []runtime.Sample{
				sample(0, 0, 0, 8, 10, 0),
				sample(1, 2*sec, 8*sec, 8, 10, 0),
			},
			want:    []want{{0, 10, false, false}, {200, 10, false, false}},
			peakCPU: 200, peakRAM: 10,
		},
		{
			name: "hand-computed fraction rounds to two decimals",
			// (123456789 / 2000000000) * 2 * 100 = 12.3456789 -> 12.35
			samples: []runtime.Sample{
				sample(0, 0, 0, 2, 1, 0),
				sample(1, 123456789, 2*sec, 2, 1, 0),
			},
			want:    []want{{0, 1, false, false}, {12.35, 1, false, false}},
			peakCPU: 12.35, peakRAM: 1,
		},
		{
			name: "counters going backwards read zero",
			samples: []runtime.Sample{
				sample(0, 5*sec, 100*sec, 1, 1, 0),
				sample(1, 1*sec, 101*sec, 1, 1, 0),
				sample(2, 1*sec+sec/4, 102*sec, 1, 1, 0),
			},
			want:    []want{{0, 1, false, false}, {0, 1, false, false}, {25, 1, false, false}},
			peakCPU: 25, peakRAM: 1,
		},
		{
			name: "zero online cpus count as one; no system delta reads zero",
			samples: []runtime.Sample{
				sample(0, 0, 0, 0, 1, 0),
				sample(1, sec/2, sec, 0, 1, 0),
				sample(2, sec, sec, 0, 1, 0),
			},
			want:    []want{{0, 1, false, false}, {50, 1, false, false}, {0, 1, false, false}},
			peakCPU: 50, peakRAM: 1,
		},
		{
			name:   "cpu soft limit exceeded only above it",
			limits: Limits{CPUSoft: 0.5},
			samples: []runtime.Sample{
				sample(0, 0, 0, 1, 1, 0),
				sample(1, sec/2, sec, 1, 1, 0),            // exactly 50 %: not above
				sample(2, sec/2+sec*6/10, 2*sec, 1, 1, 0), // 60 %
				sample(3, sec/2+sec*6/10, 3*sec, 1, 1, 0), // 0 %
			},
			want:    []want{{0, 1, false, false}, {50, 1, false, false}, {60, 1, true, false}, {0, 1, false, false}},
			peakCPU: 60, peakRAM: 1, peakExc: true,
		},
		{
			name:   "memory soft limit",
			limits: Limits{MemSoftBytes: 64 << 20},
			samples: []runtime.Sample{
				sample(0, 0, 0, 1, 64, 0),
				sample(1, 0, sec, 1, 64.5, 0),
				sample(2, 0, 2*sec, 1, 30, 0),
			},
			want:    []want{{0, 64, false, false}, {0, 64.5, true, false}, {0, 30, false, false}},
			peakCPU: 0, peakRAM: 64.5, peakExc: true,
		},
		{
			name: "throttled periods growing flag the interval",
			samples: []runtime.Sample{
				sample(0, 0, 0, 1, 1, 7),
				sample(1, sec/10, sec, 1, 1, 7),
				sample(2, sec/5, 2*sec, 1, 1, 9),
				sample(3, sec*3/10, 3*sec, 1, 1, 9),
			},
			want:    []want{{0, 1, false, false}, {10, 1, false, false}, {10, 1, false, true}, {10, 1, false, false}},
			peakCPU: 10, peakRAM: 1,
		},
		{
			name:   "cpu at the hard limit for three points flags throttling",
			limits: Limits{CPUHard: 0.5},
			// 48 % is within 5 % of 50 %; 40 % is not.
			samples: []runtime.Sample{
				sample(0, 0, 0, 1, 1, 0),
				sample(1, 48*sec/100, sec, 1, 1, 0),
				sample(2, 96*sec/100, 2*sec, 1, 1, 0),
				sample(3, 144*sec/100, 3*sec, 1, 1, 0),
				sample(4, 184*sec/100, 4*sec, 1, 1, 0),
				sample(5, 232*sec/100, 5*sec, 1, 1, 0),
			},
			want: []want{
				{0, 1, false, false}, {48, 1, false, false}, {48, 1, false, false},
				{48, 1, false, true}, {40, 1, false, false}, {48, 1, false, false},
			},
			peakCPU: 48, peakRAM: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := NewCalculator(tt.limits)
			var got []want
			for i, s := range tt.samples {
				p := c.Add(s)
				if !p.Timestamp.Equal(s.Time) || p.RAMLimitMB != 512 {
					t.Errorf("point %d: timestamp %v, ram limit %v", i, p.Timestamp, p.RAMLimitMB)
				}
				got = append(got, want{p.CPUPercent, p.RAMMB, p.SoftLimitExceeded, p.Throttled})
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(want{})); diff != "" {
				t.Errorf("points (-want +got):\n%s", diff)
			}
			cpu, ram, exc := c.Peak()
			if cpu != tt.peakCPU || ram != tt.peakRAM || exc != tt.peakExc {
				t.Errorf("Peak() = %v, %v, %v; want %v, %v, %v", cpu, ram, exc, tt.peakCPU, tt.peakRAM, tt.peakExc)
			}
		})
	}
}
