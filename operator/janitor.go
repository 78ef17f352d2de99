package operator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/fastflow-dev/fastflow/repo"
	"github.com/fastflow-dev/fastflow/runtime"
	"github.com/fastflow-dev/fastflow/status"
)

// The kinds of object the janitor reports to the Observer.
const (
	kindContainers = "containers"
	kindVolumes    = "volumes"
	kindRevisions  = "revisions"
	kindTempDirs   = "temp_dirs"
	kindImages     = "images"
)

// The reasons the janitor logs for a removal.
const (
	reasonRunOver    = "its run is finished or unknown to the store"
	reasonNoRunID    = "it names no run"
	reasonWarmupLeft = "leftover warm-up: no warm-up of this process uses it"
)

// janitorParallel bounds the removals a pass has in flight: enough to keep
// a daemon busy with a thousand containers, few enough to leave it
// answering the runs.
const janitorParallel = 8

// JanitorConfig configures the janitor, which removes what the runs and
// syncs of this installation left behind. The zero value turns it off.
type JanitorConfig struct {
	// Interval is the time between passes (JANITOR_INTERVAL). The first
	// pass runs at start-up, once reconciliation and the first sync are
	// done. 0 turns the janitor off; revisions are still collected after
	// each sync.
	Interval time.Duration
	// DryRun logs and counts what a pass would remove and removes nothing
	// (JANITOR_DRY_RUN). The removals after each sync are not affected.
	DryRun bool
	// PruneImages also removes dangling images labelled with this
	// installation's LabelInstance (JANITOR_PRUNE_IMAGES).
	PruneImages bool
}

// Validate refuses a negative interval.
func (c JanitorConfig) Validate() error {
	if c.Interval < 0 {
		return errors.New("operator: JANITOR_INTERVAL must not be negative")
	}
	return nil
}

// revisionCollector is the part of *repo.Syncer the janitor uses.
type revisionCollector interface {
	Collect(ctx context.Context, opts repo.GCOptions) (repo.Collected, error)
}

// janitor removes the objects of this installation (its LabelInstance)
// that nothing owns any more: run containers and volumes whose run is
// finished or unknown to the store, warm-up containers no warm-up uses,
// revisions beyond the newest KeepRevisions that no run uses, leftover
// temporary folders and, with PruneImages, dangling images. An object
// without this installation's label is never looked at: every listing
// selects by it, and each object is checked again before it goes.
//
// A container or volume of a PENDING or RUNNING run is never touched (its
// runner owns it), nor one whose run or warm-up this process supervises.
// The containers are listed before the runs are read, so a run that
// starts meanwhile is either not listed or found active.
//
// run owns its loop; pass may also be called on its own (tests).
type janitor struct {
	cfg      JanitorConfig
	instance string
	rt       runtime.Runtime
	// sweeper is rt's volumes and images; nil when the runtime has none.
	sweeper runtime.Sweeper
	store   status.Store
	// revs collects revisions; nil leaves them alone.
	revs revisionCollector
	clk  Clock
	log  *slog.Logger
	obs  Observer
	// busy returns the run IDs whose containers this process uses now:
	// its runners' and its warm-ups'.
	busy func() map[string]bool
}

func newJanitor(cfg JanitorConfig, instance string, rt runtime.Runtime, store status.Store, revs revisionCollector,
	clk Clock, log *slog.Logger, obs Observer, busy func() map[string]bool) *janitor {
	sw, _ := rt.(runtime.Sweeper)
	if obs == nil {
		obs = nopObserver{}
	}
	if busy == nil {
		busy = func() map[string]bool { return nil }
	}
	return &janitor{cfg: cfg, instance: instance, rt: rt, sweeper: sw, store: store, revs: revs, clk: clk, log: log, obs: obs, busy: busy}
}

// run makes a pass at once, then every Interval, until ctx ends. Errors
// are logged; the next pass tries again.
func (j *janitor) run(ctx context.Context) {
	t := j.clk.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
		if _, err := j.pass(ctx); err != nil && ctx.Err() == nil {
			j.log.Error("janitor pass", "err", err)
		}
		t.Reset(j.cfg.Interval)
	}
}

// janitorResult counts what one pass removed, or would remove in a dry run.
type janitorResult struct {
	Containers, Volumes, Revisions, TempDirs, Images int
}

func (r janitorResult) counts() map[string]int {
	return map[string]int{kindContainers: r.Containers, kindVolumes: r.Volumes, kindRevisions: r.Revisions, kindTempDirs: r.TempDirs, kindImages: r.Images}
}

// pass makes one clean-up. Each part goes on when another fails; the
// error joins them.
func (j *janitor) pass(ctx context.Context) (janitorResult, error) {
	start := j.clk.Now()
	var res janitorResult
	var errs []error
	own := map[string]string{runtime.LabelInstance: j.instance}

	containers, err := j.rt.List(ctx, own)
	if err != nil {
		errs = append(errs, fmt.Errorf("janitor: list containers: %w", err))
	}
	var volumes []runtime.Volume
	if j.sweeper != nil {
		if volumes, err = j.sweeper.Volumes(ctx, own); err != nil {
			errs = append(errs, fmt.Errorf("janitor: list volumes: %w", err))
		}
	}
	if len(containers)+len(volumes) > 0 {
		// Read after the listings: a run whose container was listed
		// existed before, so its record is found here with its status.
		active, err := activeRuns(ctx, j.store)
		if err != nil {
			// Without the runs nothing can be told apart: keep everything.
			errs = append(errs, fmt.Errorf("janitor: list active runs; no container or volume removed: %w", err))
		} else {
			busy := j.busy()
			n, err := j.removeContainers(ctx, containers, active, busy)
			res.Containers = n
			errs = append(errs, err)
			n, err = j.removeVolumes(ctx, volumes, active, busy)
			res.Volumes = n
			errs = append(errs, err)
		}
	}
	if j.revs != nil {
		revs, dirs, err := j.collectRevisions(ctx)
		res.Revisions, res.TempDirs = revs, dirs
		errs = append(errs, err)
	}
	if j.cfg.PruneImages && j.sweeper != nil {
		n, err := j.pruneImages(ctx, own)
		res.Images = n
		errs = append(errs, err)
	}

	counts := res.counts()
	if j.cfg.DryRun {
		j.log.Info("janitor dry run: nothing removed", "instance", j.instance, "would_remove_containers", res.Containers, "would_remove_volumes", res.Volumes,
			"would_remove_revisions", res.Revisions, "would_remove_temp_dirs", res.TempDirs, "would_remove_images", res.Images, "took", j.clk.Now().Sub(start))
	} else {
		for kind, n := range counts {
			if n > 0 {
				j.obs.Removed(ComponentJanitor, kind, n)
			}
		}
		j.log.Info("janitor pass", "instance", j.instance, "containers_removed", res.Containers, "volumes_removed", res.Volumes,
			"revisions_removed", res.Revisions, "temp_dirs_removed", res.TempDirs, "images_removed", res.Images, "took", j.clk.Now().Sub(start))
	}
	return res, errors.Join(errs...)
}

// activeRuns returns the IDs of every PENDING or RUNNING run.
func activeRuns(ctx context.Context, store status.Store) (map[string]bool, error) {
	runs, err := activeRecords(ctx, store)
	if err != nil {
		return nil, err
	}
	ids := make(map[string]bool, len(runs))
	for _, r := range runs {
		ids[r.ID] = true
	}
	return ids, nil
}

// reason says why an object of this installation with labels goes, ""
// when it stays: a PENDING or RUNNING run, or a run or warm-up this
// process supervises, owns it.
func (j *janitor) reason(labels map[string]string, active, busy map[string]bool) string {
	if labels[runtime.LabelInstance] != j.instance {
		return "" // the listing selected it; a backend that ignored the filter must not cost another installation
	}
	id := labels[runtime.LabelRunID]
	switch {
	case id != "" && busy[id]:
		return ""
	case labels[runtime.LabelKind] == "preheat":
		return reasonWarmupLeft
	case id == "":
		return reasonNoRunID
	case active[id]:
		return ""
	}
	return reasonRunOver
}

// removeContainers removes the containers that go, janitorParallel at a
// time, and returns how many went (would go, in a dry run).
func (j *janitor) removeContainers(ctx context.Context, cs []runtime.Container, active, busy map[string]bool) (int, error) {
	type doomed struct {
		c      runtime.Container
		reason string
	}
	var due []doomed
	for _, c := range cs {
		if why := j.reason(c.Labels, active, busy); why != "" {
			due = append(due, doomed{c, why})
		}
	}
	if j.cfg.DryRun {
		for _, d := range due {
			j.log.Info("janitor dry run: would remove container", "container", repo.ShortSHA(d.c.ID), "run", d.c.RunID, "kind", d.c.Kind, "state", d.c.State, "reason", d.reason)
		}
		return len(due), nil
	}

	work := make(chan doomed)
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		removed int
		failed  int
		first   error
	)
	for range min(janitorParallel, len(due)) {
		wg.Go(func() {
			for d := range work {
				err := j.rt.Remove(ctx, d.c.ID)
				mu.Lock()
				if err != nil {
					failed++
					if first == nil {
						first = err
					}
				} else {
					removed++
				}
				mu.Unlock()
				if err != nil {
					j.log.Warn("janitor: remove container", "container", repo.ShortSHA(d.c.ID), "run", d.c.RunID, "err", err)
					continue
				}
				j.log.Info("janitor: removed container", "container", repo.ShortSHA(d.c.ID), "run", d.c.RunID, "kind", d.c.Kind, "state", d.c.State, "reason", d.reason)
			}
		})
	}
feed:
	for _, d := range due {
		select {
		case work <- d:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	if failed > 0 {
		return removed, fmt.Errorf("janitor: %d of %d container removals failed, the first: %w", failed, len(due), first)
	}
	return removed, ctx.Err()
}

// removeVolumes removes the volumes that go; one a container still uses
// stays for the next pass.
func (j *janitor) removeVolumes(ctx context.Context, vs []runtime.Volume, active, busy map[string]bool) (int, error) {
	n := 0
	var errs []error
	for _, v := range vs {
		why := j.reason(v.Labels, active, busy)
		if why == "" {
			continue
		}
		log := j.log.With("volume", v.Name, "run", v.Labels[runtime.LabelRunID], "reason", why)
		ok, err := j.removeObject(log, "volume", v.InUse, func() error { return j.sweeper.RemoveVolume(ctx, v.Name) })
		if ok {
			n++
		}
		errs = append(errs, err)
	}
	return n, errors.Join(errs...)
}

// removeObject removes one volume or image (what) with remove, unless a
// container uses it, as listed or as the removal finds; in a dry run it
// only says so. It reports whether the object went (would go).
func (j *janitor) removeObject(log *slog.Logger, what string, inUse bool, remove func() error) (bool, error) {
	if inUse {
		log.Info("janitor: " + what + " still used by a container; kept")
		return false, nil
	}
	if j.cfg.DryRun {
		log.Info("janitor dry run: would remove " + what)
		return true, nil
	}
	err := remove()
	switch {
	case errors.Is(err, runtime.ErrInUse):
		log.Info("janitor: " + what + " still used by a container; kept")
		return false, nil
	case err != nil:
		log.Warn("janitor: remove "+what, "err", err)
		return false, fmt.Errorf("janitor: remove %s: %w", what, err)
	}
	log.Info("janitor: removed " + what)
	return true, nil
}

// collectRevisions removes the revisions no queued or running run uses
// beyond the newest ones, and leftover temporary folders. If the store
// cannot say which revisions are in use, nothing is removed.
func (j *janitor) collectRevisions(ctx context.Context) (revisions, tempDirs int, err error) {
	inUse, err := j.store.ActiveRevisions(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("janitor: list revisions in use; none removed: %w", err)
	}
	got, err := j.revs.Collect(ctx, repo.GCOptions{InUse: inUse, DryRun: j.cfg.DryRun})
	msg, dirMsg := "janitor: removed revision", "janitor: removed temporary folder"
	if j.cfg.DryRun {
		msg, dirMsg = "janitor dry run: would remove revision", "janitor dry run: would remove temporary folder"
	}
	for _, r := range got.Revisions {
		j.log.Info(msg, "revision", repo.ShortSHA(r))
	}
	for _, d := range got.TempDirs {
		j.log.Info(dirMsg, "folder", d)
	}
	if err != nil {
		err = fmt.Errorf("janitor: collect revisions: %w", err)
	}
	return len(got.Revisions), len(got.TempDirs), err
}

// pruneImages removes the dangling images labelled with this installation;
// one a container uses stays.
func (j *janitor) pruneImages(ctx context.Context, own map[string]string) (int, error) {
	imgs, err := j.sweeper.DanglingImages(ctx, own)
	if err != nil {
		return 0, fmt.Errorf("janitor: list dangling images: %w", err)
	}
	n := 0
	var errs []error
	for _, img := range imgs {
		if img.Labels[runtime.LabelInstance] != j.instance {
			continue
		}
		log := j.log.With("image", repo.ShortSHA(strings.TrimPrefix(img.ID, "sha256:")), "created", img.Created)
		ok, err := j.removeObject(log, "dangling image", img.InUse, func() error { return j.sweeper.RemoveImage(ctx, img.ID) })
		if ok {
			n++
		}
		errs = append(errs, err)
	}
	return n, errors.Join(errs...)
}
