package operator

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/fastflow-dev/fastflow/operator/uvcache"
)

// ComponentUVCache reports the uv cache entries the keeper evicted.
const ComponentUVCache = "uv_cache"

// UVCacheConfig is where the uv cache is on this host and how large it may
// grow.
type UVCacheConfig struct {
	// Dir is the host folder of the runs' uv cache (UV_CACHE_DIR); empty
	// when the runtime keeps the cache where the operator cannot see it
	// (a Kubernetes volume), which turns the keeper off.
	Dir string
	// MaxBytes is UV_CACHE_MAX_SIZE; 0 measures the cache but never trims
	// it.
	MaxBytes int64
	// Interval is how often the size is measured besides after runs and
	// warm-ups; 0 means ten minutes.
	Interval time.Duration
	// MinGap bounds how often runs finishing in a burst measure it; 0
	// means one minute.
	MinGap time.Duration
}

// UVCacheState is what /sync shows about the uv cache.
type UVCacheState struct {
	Dir        string
	Bytes      int64
	MaxBytes   int64
	MeasuredAt time.Time
	// LastCleanup is the last trim that evicted something, with what it
	// evicted.
	LastCleanup      time.Time
	LastRemoved      int
	LastRemovedBytes int64
	// Postponed is set while a trim is due but runs or warm-ups hold the
	// cache; the next pass tries again.
	Postponed time.Time
	Error     string
}

// cacheKeeper measures the uv cache and trims it to UV_CACHE_MAX_SIZE. run
// owns its loop; poke asks for a pass soon without blocking.
type cacheKeeper struct {
	cfg   UVCacheConfig
	clk   Clock
	log   *slog.Logger
	obs   Observer
	poked chan struct{}

	mu    sync.Mutex
	state UVCacheState
}

func newCacheKeeper(cfg UVCacheConfig, clk Clock, log *slog.Logger, obs Observer) *cacheKeeper {
	if cfg.Interval <= 0 {
		cfg.Interval = 10 * time.Minute
	}
	if cfg.MinGap <= 0 {
		cfg.MinGap = time.Minute
	}
	return &cacheKeeper{cfg: cfg, clk: clk, log: log, obs: obs, poked: make(chan struct{}, 1),
		state: UVCacheState{Dir: cfg.Dir, MaxBytes: cfg.MaxBytes}}
}

func (k *cacheKeeper) enabled() bool { return k.cfg.Dir != "" }

// poke asks for a pass (a run or a warm-up ended); pokes merge.
func (k *cacheKeeper) poke() {
	select {
	case k.poked <- struct{}{}:
	default:
	}
}

// snapshot returns a copy of the state.
func (k *cacheKeeper) snapshot() UVCacheState {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.state
}

// run makes a pass at once, then every Interval, and after pokes but at
// most once per MinGap, until ctx ends.
func (k *cacheKeeper) run(ctx context.Context) {
	t := k.clk.NewTimer(0)
	defer t.Stop()
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		case <-k.poked:
			if wait := k.cfg.MinGap - k.clk.Now().Sub(last); wait > 0 {
				t.Reset(wait)
				continue
			}
		}
		last = k.clk.Now()
		k.pass(ctx)
		t.Reset(k.cfg.Interval)
	}
}

// pass measures the cache and, above the limit, trims it.
func (k *cacheKeeper) pass(ctx context.Context) {
	now := k.clk.Now().UTC()
	var (
		size int64
		rep  uvcache.Report
		err  error
	)
	if k.cfg.MaxBytes > 0 {
		rep, err = uvcache.Trim(ctx, k.cfg.Dir, k.cfg.MaxBytes, 0, now)
		size = rep.After
	} else {
		var u uvcache.Usage
		u, err = uvcache.Measure(ctx, k.cfg.Dir)
		size = u.Bytes
	}
	if ctx.Err() != nil {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.state.Bytes, k.state.MeasuredAt, k.state.Error = size, now, ""
	switch {
	case errors.Is(err, uvcache.ErrInUse):
		k.state.Postponed = now
		k.log.Info("uv cache over its limit while runs use it; trimming later", "bytes", size, "max", k.cfg.MaxBytes)
		return
	case err != nil:
		k.state.Error = err.Error()
		k.log.Error("uv cache", "err", err)
	}
	k.state.Postponed = time.Time{}
	if n := len(rep.Removed); n > 0 {
		k.state.LastCleanup, k.state.LastRemoved, k.state.LastRemovedBytes = now, n, rep.RemovedBytes
		k.obs.Removed(ComponentUVCache, "entries", n)
		k.log.Info("trimmed the uv cache", "evicted", n, "freed_bytes", rep.RemovedBytes, "before", rep.Before, "after", rep.After, "max", k.cfg.MaxBytes)
	}
}
