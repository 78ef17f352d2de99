package webui

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fastflow-dev/fastflow/status"
)

const uiRunNotified = "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4d31"

var notificationsSectionRE = regexp.MustCompile(`(?s)<section class="card" id="notifications">.*?</section>`)

// TestRunNotifications: a run's notifications are on its page and in GET
// /api/runs/{id}/notifications, a failing target with its last error and
// next attempt; a run without any shows no section; an unknown run is 404.
func TestRunNotifications(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	ctx := t.Context()
	end := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	if _, err := e.store.CreateRun(ctx, status.Run{ID: uiRunNotified, Pipeline: "hello", Status: status.RunFailed,
		ErrorType: status.ErrorExitCode, Trigger: status.TriggerManual, Attempt: 1,
		QueuedAt: end.Add(-time.Minute), StartedAt: end.Add(-50 * time.Second), FinishedAt: end}); err != nil {
		t.Fatal(err)
	}
	// Due only far ahead, so the environment's own notifier (a real
	// operator runs beside the server) leaves them to the test.
	later := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	if err := e.store.EnqueueNotifications(ctx, []status.Notification{
		{RunID: uiRunNotified, Target: "SLACK_URL", Format: "slack", Event: "failure", NextAttemptAt: later.Add(time.Hour)},
		{RunID: uiRunNotified, Target: "PAGER_URL", Format: "json", SigningSecret: "PAGER_KEY", Event: "failure", NextAttemptAt: later.Add(time.Hour)},
	}); err != nil {
		t.Fatal(err)
	}
	ns, err := e.store.ListNotifications(ctx, uiRunNotified)
	if err != nil || len(ns) != 2 {
		t.Fatalf("notifications: %v, %v", ns, err)
	}
	pager, slack := ns[0], ns[1]
	pager.State, pager.Attempts, pager.LastError, pager.NextAttemptAt = status.NotificationPending, 2, "HTTP 503 Service Unavailable", later
	slack.State, slack.Attempts, slack.DeliveredAt = status.NotificationDelivered, 1, end.Add(time.Second)
	for _, n := range []status.Notification{pager, slack} {
		if err := e.store.RecordNotificationAttempt(ctx, n); err != nil {
			t.Fatal(err)
		}
	}

	code, _, body := getPage(t, e, "/runs/"+uiRunNotified, true)
	if code != http.StatusOK {
		t.Fatalf("run page: %d", code)
	}
	section := notificationsSectionRE.FindString(body)
	for _, want := range []string{
		`<tr data-target="PAGER_URL">`, `<span class="badge notify-pending">pending</span>`, "HTTP 503 Service Unavailable",
		"next attempt <time", `<tr data-target="SLACK_URL">`, `<span class="badge notify-delivered">delivered</span>`, "delivered <time",
	} {
		if !strings.Contains(section, want) {
			t.Errorf("notifications section lacks %q:\n%s", want, section)
		}
	}

	var got struct {
		Items []notificationJSON `json:"items"`
	}
	if code, raw := e.do("GET", "/api/runs/"+uiRunNotified+"/notifications", nil, &got); code != http.StatusOK || len(got.Items) != 2 {
		t.Fatalf("GET notifications: %d %s", code, raw)
	}
	p, s := got.Items[0], got.Items[1]
	if p.Target != "PAGER_URL" || p.State != "pending" || p.Attempts != 2 || p.LastError != "HTTP 503 Service Unavailable" ||
		p.NextAttemptAt == nil || !p.NextAttemptAt.Equal(later) || p.DeliveredAt != nil {
		t.Errorf("PAGER_URL = %+v", p)
	}
	if s.Target != "SLACK_URL" || s.State != "delivered" || s.NextAttemptAt != nil || s.DeliveredAt == nil {
		t.Errorf("SLACK_URL = %+v", s)
	}

	// A run without notifications: no section, an empty list.
	other := uiRunNotified[:len(uiRunNotified)-2] + "32"
	if _, err := e.store.CreateRun(ctx, status.Run{ID: other, Pipeline: "hello", Status: status.RunSuccess, Attempt: 1,
		QueuedAt: end, FinishedAt: end}); err != nil {
		t.Fatal(err)
	}
	if _, _, body := getPage(t, e, "/runs/"+other, true); strings.Contains(body, `id="notifications"`) {
		t.Error("a run without notifications shows the section")
	}
	if code, raw := e.do("GET", "/api/runs/"+other+"/notifications", nil, nil); code != http.StatusOK || !regexp.MustCompile(`"items":\s*\[\]`).Match(raw) {
		t.Errorf("GET notifications of a run without any: %d %s", code, raw)
	}
	if code, _ := e.do("GET", "/api/runs/0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4dff/notifications", nil, nil); code != http.StatusNotFound {
		t.Errorf("GET notifications of an unknown run: %d, want 404", code)
	}
}
