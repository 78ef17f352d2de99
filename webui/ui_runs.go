package webui

import (
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/fastflow-dev/fastflow/status"
)

// option is one choice of a select.
type option struct {
	Value, Label string
	Selected     bool
}

// runsPageView is the body of the runs page.
type runsPageView struct {
	Pipelines, Statuses, Triggers, Orders []option
	Since, Until                          string
	Problems                              []string
	Runs                                  []runJSON
	NextURL, FirstURL                     string
}

func (s *Server) uiRuns(w http.ResponseWriter, r *http.Request, u *ui) {
	pv := pageView{Title: "Runs", Nav: "runs", Crumbs: []crumb{{"Dashboard", "/"}, {"Runs", ""}}}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		s.renderError(w, r, u, http.StatusBadRequest, "The address has a malformed query string.")
		return
	}
	// The form's empty choices mean "any"; drop them before parsing.
	for k, vs := range q {
		q[k] = slices.DeleteFunc(vs, func(v string) bool { return strings.TrimSpace(v) == "" })
	}
	f, bad := parseRunFilter(q)
	v := runsPageView{Since: q.Get("since"), Until: q.Get("until")}
	v.Pipelines = append(v.Pipelines, option{Value: "", Label: "any"})
	if snap := s.cfg.Operator.Snapshot(); snap != nil {
		for _, p := range snap.Pipelines {
			v.Pipelines = append(v.Pipelines, option{Value: p.Name, Label: p.Name, Selected: p.Name == f.Pipeline})
		}
	}
	if f.Pipeline != "" && !slices.ContainsFunc(v.Pipelines, func(o option) bool { return o.Selected }) {
		// Runs of a pipeline removed from the repository stay listable.
		v.Pipelines = append(v.Pipelines, option{Value: f.Pipeline, Label: f.Pipeline + " (removed)", Selected: true})
	}
	v.Statuses = append(v.Statuses, option{Value: "", Label: "any"})
	for _, st := range status.AllStatuses() {
		v.Statuses = append(v.Statuses, option{Value: string(st), Label: string(st), Selected: slices.Contains(f.Statuses, st)})
	}
	v.Triggers = append(v.Triggers, option{Value: "", Label: "any"})
	for _, tr := range status.AllTriggers() {
		v.Triggers = append(v.Triggers, option{Value: string(tr), Label: string(tr), Selected: slices.Contains(f.Triggers, tr)})
	}
	v.Orders = []option{{Value: "desc", Label: "newest first", Selected: f.Order != status.OrderAsc},
		{Value: "asc", Label: "oldest first", Selected: f.Order == status.OrderAsc}}
	if len(bad) > 0 {
		for _, k := range slices.Sorted(maps.Keys(bad)) {
			v.Problems = append(v.Problems, k+": "+bad[k])
		}
		pv.Body = v
		s.render(w, r, u, http.StatusBadRequest, "runs", pv)
		return
	}
	page, err := s.cfg.Store.ListRuns(r.Context(), f)
	if err != nil {
		s.uiOpError(w, r, u, fmt.Errorf("list runs: %w", err))
		return
	}
	v.Runs = runViews(page.Runs)
	if page.NextCursor != "" {
		next := cloneValues(q)
		next.Set("cursor", page.NextCursor)
		v.NextURL = "/runs?" + next.Encode()
	}
	if f.Cursor != "" {
		first := cloneValues(q)
		first.Del("cursor")
		v.FirstURL = "/runs?" + first.Encode()
	} else {
		// Only the first page follows new runs; a deep page stays put.
		pv.Refresh = uiRefresh
	}
	pv.Body = v
	s.render(w, r, u, http.StatusOK, "runs", pv)
}

func cloneValues(q url.Values) url.Values {
	out := make(url.Values, len(q))
	for k, vs := range q {
		out[k] = slices.Clone(vs)
	}
	return out
}
