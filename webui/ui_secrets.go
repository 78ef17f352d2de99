package webui

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"time"
)

// secretRow is one secret on the secrets page: never its value.
type secretRow struct {
	Name                 string
	UsedBy               []string
	CreatedAt, UpdatedAt *time.Time
	Missing              bool
}

// secretsPageView is the body of the secrets page.
type secretsPageView struct {
	Configured bool
	Secrets    []secretRow
}

func (s *Server) uiSecrets(w http.ResponseWriter, r *http.Request, u *ui) {
	v := secretsPageView{Configured: s.cfg.Secrets != nil}
	usedBy := map[string][]string{}
	if snap := s.cfg.Operator.Snapshot(); snap != nil {
		for _, p := range snap.Pipelines {
			for _, name := range p.Spec.Secrets {
				usedBy[name] = append(usedBy[name], p.Name)
			}
		}
	}
	if v.Configured {
		list, err := s.cfg.Secrets.List(r.Context())
		if err != nil {
			s.uiOpError(w, r, u, fmt.Errorf("list secrets: %w", err))
			return
		}
		for _, sec := range list {
			v.Secrets = append(v.Secrets, secretRow{Name: sec.Name, UsedBy: usedBy[sec.Name],
				CreatedAt: timeOrNil(sec.CreatedAt), UpdatedAt: timeOrNil(sec.UpdatedAt)})
			delete(usedBy, sec.Name)
		}
	}
	// Names pipelines ask for that are not set: their runs would fail.
	for _, name := range slices.Sorted(maps.Keys(usedBy)) {
		v.Secrets = append(v.Secrets, secretRow{Name: name, UsedBy: usedBy[name], Missing: true})
	}
	s.render(w, r, u, http.StatusOK, "secrets", pageView{Title: "Secrets", Nav: "secrets",
		Crumbs: []crumb{{"Dashboard", "/"}, {"Secrets", ""}}, Body: v})
}
