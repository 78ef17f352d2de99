package webui

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/fastflow-dev/fastflow/operator"
)

// syncRow is one sync attempt on the sync page.
type syncRow struct {
	syncJSON
	Duration string
}

// preheatRow is one pipeline's dependency cache on the sync page.
type preheatRow struct {
	Pipeline, State, Output string
	LastWarmup              *time.Time
}

// syncPageView is the body of the sync page.
type syncPageView struct {
	Revision, ShortRevision, Branch, CommitMessage, CommitAuthor, CommitURL string
	CommittedAt, LastSuccessAt                                              *time.Time
	Running                                                                 bool
	History                                                                 []syncRow
	LastError                                                               *syncRow
	PreHeat                                                                 []preheatRow
	UVCache                                                                 *uvCacheView
	// Replicas are the servers sharing the database, and who leads.
	Replicas ReplicasHealth
}

// uvCacheView is the uv cache's size and last clean-up on the sync page.
type uvCacheView struct {
	Size, Max, LastRemovedSize       string
	Over                             bool
	LastRemoved                      int
	MeasuredAt, LastCleanup, Pending *time.Time
	Error                            string
}

func newUVCacheView(st operator.UVCacheState) *uvCacheView {
	if st.MeasuredAt.IsZero() {
		return nil
	}
	v := &uvCacheView{Size: cacheSize(st.Bytes), Max: "no limit", LastRemoved: st.LastRemoved,
		LastRemovedSize: cacheSize(st.LastRemovedBytes), MeasuredAt: timeOrNil(st.MeasuredAt),
		LastCleanup: timeOrNil(st.LastCleanup), Pending: timeOrNil(st.Postponed), Error: st.Error}
	if st.MaxBytes > 0 {
		v.Max, v.Over = cacheSize(st.MaxBytes), st.Bytes > st.MaxBytes
	}
	return v
}

// cacheSize writes a folder's size to one decimal in binary units.
func cacheSize(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	f, i := float64(n), 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%d B", n)
	}
	return fmt.Sprintf("%.1f %s", f, units[i])
}

func (s *Server) uiSync(w http.ResponseWriter, r *http.Request, u *ui) {
	ctx := r.Context()
	st := s.cfg.Operator.SyncState()
	v := syncPageView{Running: st.Running, LastSuccessAt: timeOrNil(st.LastSuccess), UVCache: newUVCacheView(st.UVCache)}
	if st.Live != nil {
		v.Revision, v.ShortRevision, v.Branch = st.Live.Revision, st.Live.ShortRevision(), st.Live.Branch
		v.CommitMessage, v.CommitAuthor, v.CommittedAt = st.Live.CommitMessage, st.Live.CommitAuthor, timeOrNil(st.Live.CommittedAt)
		v.CommitURL = s.commitURL(st.Live.Revision)
	}
	v.Replicas = s.replicasHealth(ctx)
	evs, err := s.cfg.Store.ListSyncs(ctx, syncHistory)
	if err != nil {
		s.uiOpError(w, r, u, fmt.Errorf("list syncs: %w", err))
		return
	}
	for _, ev := range evs {
		row := syncRow{syncJSON: newSyncJSON(ev)}
		if !ev.StartedAt.IsZero() && !ev.FinishedAt.IsZero() {
			row.Duration = formatDuration(ev.FinishedAt.Sub(ev.StartedAt))
		}
		v.History = append(v.History, row)
		if ev.Error != "" && v.LastError == nil {
			v.LastError = &row
		}
	}
	pls, err := s.cfg.Store.ListPipelines(ctx)
	if err != nil {
		s.uiOpError(w, r, u, fmt.Errorf("list pipelines: %w", err))
		return
	}
	for _, p := range pls {
		if !p.HasRequirements {
			continue
		}
		row := preheatRow{Pipeline: p.Name, State: cacheWords(pipelineJSON{HasRequirements: true, CacheStatus: p.CacheStatus}),
			LastWarmup: timeOrNil(p.LastCacheWarmup)}
		if row.State == "failed" {
			row.Output = p.CacheOutput
		}
		v.PreHeat = append(v.PreHeat, row)
	}
	slices.SortFunc(v.PreHeat, func(a, b preheatRow) int { return cmp.Compare(a.Pipeline, b.Pipeline) })
	s.render(w, r, u, http.StatusOK, "sync", pageView{Title: "Sync", Nav: "sync", Refresh: uiRefresh,
		Crumbs: []crumb{{"Dashboard", "/"}, {"Sync", ""}}, Body: v})
}
