package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/docker/docker/api/types/container"

	"github.com/fastflow-dev/fastflow/runtime"
)

// Stats streams the daemon's resource samples, about one a second.
//
// When the container stops, the daemon does not end the stream; it goes on
// sending empty samples (no read time). The first of those ends the stream
// with io.EOF, as the contract asks.
func (c *Client) Stats(ctx context.Context, id string) (runtime.StatsStream, error) {
	sctx, cancel := context.WithCancel(ctx)
	var body io.ReadCloser
	err := c.do(sctx, "stats", id, func(ctx context.Context) error {
		resp, err := c.api.ContainerStats(ctx, id, true)
		body = resp.Body
		return err
	})
	if err != nil {
		cancel()
		return nil, err
	}
	return &statsStream{
		ctx:      ctx,
		body:     body,
		dec:      json.NewDecoder(body),
		cancel:   cancel,
		classify: func(err error) error { return c.classify("stats", id, err) },
	}, nil
}

// statsStream decodes the daemon's stream of JSON samples. Next is called by
// one goroutine; Close may be called from any.
type statsStream struct {
	ctx      context.Context
	body     io.ReadCloser
	dec      *json.Decoder
	cancel   context.CancelFunc
	classify func(error) error
	err      error

	closeOnce sync.Once
	mu        sync.Mutex
	closed    bool
}

// Next returns the next sample, io.EOF once the container has stopped, the
// context's error once it is done, or ErrStreamClosed after Close.
func (s *statsStream) Next() (runtime.Sample, error) {
	if s.err != nil {
		return runtime.Sample{}, s.err
	}
	var raw container.StatsResponse
	if err := s.dec.Decode(&raw); err != nil {
		s.err = s.failure(err)
		return runtime.Sample{}, s.err
	}
	if raw.Read.IsZero() {
		s.err = io.EOF
		return runtime.Sample{}, s.err
	}
	return sample(&raw), nil
}

func (s *statsStream) failure(err error) error {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	switch {
	case closed:
		return ErrStreamClosed
	case s.ctx.Err() != nil:
		return fmt.Errorf("docker stats: %w", s.ctx.Err())
	case errors.Is(err, io.EOF):
		return io.EOF
	default:
		return s.classify(err)
	}
}

// sample converts the daemon's reading. Memory excludes what the kernel can
// reclaim without harm, as `docker stats` shows it: the inactive file cache
// (cgroup v1 total_inactive_file, cgroup v2 inactive_file), or the whole
// page cache where only that is reported.
func sample(raw *container.StatsResponse) runtime.Sample {
	cpus := int(raw.CPUStats.OnlineCPUs)
	if cpus == 0 {
		cpus = len(raw.CPUStats.CPUUsage.PercpuUsage)
	}
	mem := raw.MemoryStats.Usage
	var reclaimable uint64
	for _, key := range []string{"total_inactive_file", "inactive_file", "cache"} {
		if v, ok := raw.MemoryStats.Stats[key]; ok {
			reclaimable = v
			break
		}
	}
	if reclaimable < mem {
		mem -= reclaimable
	}
	return runtime.Sample{
		Time:             raw.Read,
		CPUTotalNs:       raw.CPUStats.CPUUsage.TotalUsage,
		SystemCPUNs:      raw.CPUStats.SystemUsage,
		OnlineCPUs:       cpus,
		MemoryBytes:      mem,
		MemoryLimitBytes: raw.MemoryStats.Limit,
		ThrottledPeriods: raw.CPUStats.ThrottlingData.ThrottledPeriods,
		TotalPeriods:     raw.CPUStats.ThrottlingData.Periods,
	}
}

// Close ends the stream and releases its connection; safe to call more than
// once and concurrently with Next.
func (s *statsStream) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		s.cancel()
		err = s.body.Close()
	})
	if err != nil {
		return fmt.Errorf("close docker stats: %w", err)
	}
	return nil
}
