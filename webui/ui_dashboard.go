package webui

import (
	"fmt"
	"html/template"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/fastflow-dev/fastflow/operator"
	"github.com/fastflow-dev/fastflow/repo"
	"github.com/fastflow-dev/fastflow/schemas"
	"github.com/fastflow-dev/fastflow/status"
)

// dashSync is the sync card of the dashboard.
type dashSync struct {
	SyncHealth
	CommitURL string
}

// dashboardView is the body of the dashboard.
type dashboardView struct {
	Sync       dashSync
	Pipelines  []uiPipeline
	Query, Tag string
	Tags       []string
	Shown      int
	Running    int
	Pending    int
	Timeline   template.HTML
	// TimelineNote says when the timeline shows fewer runs than the day had.
	TimelineNote string
	// Removed are the pipelines with runs in the last day, or active ones,
	// that the live revision no longer has.
	Removed []removedPipeline
}

// removedPipeline is a pipeline gone from the repository whose recent runs
// the dashboard still shows.
type removedPipeline struct {
	Name    string
	LastRun runJSON
	// Runs counts its runs in the window and the active ones.
	Runs int
}

// removedPipelines groups the runs whose pipeline snap does not have, the
// one with the newest run first. runs are newest first; active runs from
// before the window come after them.
func removedPipelines(snap *repo.Snapshot, runs ...[]status.Run) []removedPipeline {
	var out []removedPipeline
	at := map[string]int{}
	seen := map[string]bool{}
	for _, list := range runs {
		for _, r := range list {
			if seen[r.ID] {
				continue
			}
			seen[r.ID] = true
			if _, live := snap.Pipeline(r.Pipeline); live {
				continue
			}
			i, ok := at[r.Pipeline]
			if !ok {
				i = len(out)
				at[r.Pipeline] = i
				out = append(out, removedPipeline{Name: r.Pipeline, LastRun: newRunJSON(r)})
			}
			out[i].Runs++
		}
	}
	return out
}

func (s *Server) uiDashboard(w http.ResponseWriter, r *http.Request, u *ui) {
	ctx := r.Context()
	now := time.Now()
	q := r.URL.Query()
	v := dashboardView{Query: strings.TrimSpace(q.Get("q")), Tag: q.Get("tag")}
	active, err := s.activeByPipeline(ctx)
	if err != nil {
		s.uiOpError(w, r, u, err)
		return
	}
	running := active.running
	for _, n := range active.running {
		v.Running += n
	}
	for _, n := range active.pending {
		v.Pending += n
	}
	st := s.cfg.Operator.SyncState()
	// The last day's runs draw the timeline and give most pipelines their
	// last run, so the page asks the store a handful of questions, not
	// two per pipeline.
	recent, err := s.cfg.Store.ListRuns(ctx, status.RunFilter{Since: now.Add(-tlPast), Limit: 1000})
	if err != nil {
		s.uiOpError(w, r, u, fmt.Errorf("runs of the last day: %w", err))
		return
	}
	lastRun := map[string]*status.Run{}
	for i := range recent.Runs {
		if _, ok := lastRun[recent.Runs[i].Pipeline]; !ok {
			lastRun[recent.Runs[i].Pipeline] = &recent.Runs[i]
		}
	}
	stats, err := s.cfg.Store.ListPipelines(ctx)
	if err != nil {
		s.uiOpError(w, r, u, fmt.Errorf("pipeline counters: %w", err))
		return
	}
	statsOf := make(map[string]status.Pipeline, len(stats))
	for _, p := range stats {
		statsOf[p.Name] = p
	}
	var fires []timelineFire
	tags := map[string]bool{}
	if st.Live != nil {
		v.Sync.Revision = st.Live.ShortRevision()
		v.Sync.CommitMessage = firstLine(st.Live.CommitMessage)
		v.Sync.CommitURL = s.commitURL(st.Live.Revision)
		for _, p := range st.Live.Pipelines {
			last, ok := lastRun[p.Name]
			if !ok {
				page, err := s.cfg.Store.ListRuns(ctx, status.RunFilter{Pipeline: p.Name, Limit: 1})
				if err != nil {
					s.uiOpError(w, r, u, fmt.Errorf("last run of %s: %w", p.Name, err))
					return
				}
				if len(page.Runs) > 0 {
					last = &page.Runs[0]
				}
			}
			j := newPipelineJSON(st.Live.Revision, p, statsOf[p.Name], last, now)
			row := newUIPipeline(j, running[p.Name], s.cfg.Operator.PolicyFor(p.Spec))
			row.Hidden = !matchesFilter(p, v.Query, v.Tag)
			if !row.Hidden {
				v.Shown++
			}
			for _, t := range p.Spec.Tags {
				tags[t] = true
			}
			v.Pipelines = append(v.Pipelines, row)
			if row.Runnable {
				fires = append(fires, firesWithin(p, now, now.Add(tlFuture))...)
			}
		}
	}
	if st.Live != nil {
		// Before the first sync every pipeline would look removed.
		v.Removed = removedPipelines(st.Live, recent.Runs, active.runs)
	}
	v.Tags = slices.Sorted(maps.Keys(tags))
	v.Sync.LastSyncAt = timeOrNil(st.Last.FinishedAt)
	v.Sync.Outcome, v.Sync.Error, v.Sync.Running = st.Last.Outcome, st.Last.Error, st.Running
	// A run queued before the window that is still going belongs on it.
	timeline := recent.Runs
	for _, r := range active.runs {
		if r.QueuedAt.Before(now.Add(-tlPast)) {
			timeline = append(timeline, r)
		}
	}
	if recent.NextCursor != "" {
		v.TimelineNote = fmt.Sprintf("the newest %d runs", len(recent.Runs))
	}
	v.Timeline = timelineChart(timeline, fires, now)
	s.render(w, r, u, http.StatusOK, "dashboard", pageView{Title: "Dashboard", Nav: "dashboard", Refresh: uiRefresh,
		Crumbs: []crumb{{"Dashboard", ""}}, Body: v})
}

// matchesFilter is the dashboard's filter: a case-insensitive part of the
// name or description, and a tag.
func matchesFilter(p repo.Pipeline, query, tag string) bool {
	if tag != "" && !slices.Contains(p.Spec.Tags, tag) {
		return false
	}
	if query == "" {
		return true
	}
	q := strings.ToLower(query)
	return strings.Contains(strings.ToLower(p.Name), q) || strings.Contains(strings.ToLower(p.Spec.Description), q)
}

// firesPerSchedule bounds the marks of one schedule on the timeline: a
// five-minute schedule would otherwise draw 72, and each costs a cron
// evaluation on every dashboard load.
const firesPerSchedule = 4

// firesWithin lists the pipeline's next scheduled fires in (from, to].
func firesWithin(p repo.Pipeline, from, to time.Time) []timelineFire {
	var out []timelineFire
	for _, sc := range p.Spec.AllSchedules() {
		for _, at := range nextFires(sc, from, to, firesPerSchedule) {
			out = append(out, timelineFire{Pipeline: p.Name, At: at})
		}
	}
	return out
}

// nextFires returns up to n fires of sc after from, none after to (zero:
// no bound), computed as the scheduler does.
func nextFires(sc schemas.Schedule, from, to time.Time, n int) []time.Time {
	var out []time.Time
	for t := from; len(out) < n; {
		next, err := operator.NextFire(sc, t)
		if err != nil || !next.After(t) || (!to.IsZero() && next.After(to)) {
			break
		}
		out = append(out, next)
		t = next
	}
	return out
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// githubURL is the repository's page, when it is on GitHub.
func (s *Server) githubURL() string {
	if s.cfg.RepoFullName == "" {
		return ""
	}
	return "https://github.com/" + s.cfg.RepoFullName
}

func (s *Server) commitURL(rev string) string {
	if base := s.githubURL(); base != "" && rev != "" {
		return base + "/commit/" + url.PathEscape(rev)
	}
	return ""
}
