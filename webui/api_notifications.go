package webui

import (
	"net/http"
	"time"

	"github.com/fastflow-dev/fastflow/status"
)

// notificationJSON is one notification of a run, as GET
// /api/runs/{id}/notifications and the run page show it: the target is
// the name of the secret holding the webhook URL, never the URL.
type notificationJSON struct {
	Target        string     `json:"target"`
	Format        string     `json:"format"`
	Event         string     `json:"event"`
	State         string     `json:"state"`
	Attempts      int        `json:"attempts"`
	LastError     string     `json:"last_error"`
	NextAttemptAt *time.Time `json:"next_attempt_at"`
	DeliveredAt   *time.Time `json:"delivered_at"`
	CreatedAt     *time.Time `json:"created_at"`
}

func newNotificationJSON(n status.Notification) notificationJSON {
	j := notificationJSON{Target: n.Target, Format: n.Format, Event: n.Event, State: string(n.State), Attempts: n.Attempts,
		LastError: n.LastError, DeliveredAt: timeOrNil(n.DeliveredAt), CreatedAt: timeOrNil(n.CreatedAt)}
	if n.State == status.NotificationPending {
		j.NextAttemptAt = timeOrNil(n.NextAttemptAt)
	}
	return j
}

// notificationsOf returns the run's notifications for the API and pages.
func (s *Server) notificationsOf(r *http.Request, runID string) ([]notificationJSON, error) {
	ns, err := s.cfg.Store.ListNotifications(r.Context(), runID)
	if err != nil {
		return nil, err
	}
	out := make([]notificationJSON, 0, len(ns))
	for _, n := range ns {
		out = append(out, newNotificationJSON(n))
	}
	return out, nil
}

// apiRunNotifications answers GET /api/runs/{id}/notifications.
func (s *Server) apiRunNotifications(w http.ResponseWriter, r *http.Request) {
	run, ok := s.runFromPath(w, r)
	if !ok {
		return
	}
	ns, err := s.notificationsOf(r, run.ID)
	if err != nil {
		s.writeOpError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Items []notificationJSON `json:"items"`
	}{ns})
}
