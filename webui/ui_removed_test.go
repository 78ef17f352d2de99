package webui

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fastflow-dev/fastflow/operator"
	"github.com/fastflow-dev/fastflow/repo"
	"github.com/fastflow-dev/fastflow/status"
)

// Fixed run IDs of the removed-pipeline and queue page tests.
const (
	uiRunRemoved = "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4d01"
	uiRunQueued  = "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4d02"
)

var removedSectionRE = regexp.MustCompile(`(?s)<section class="card" id="removed-pipelines">.*?</section>`)

// waitRevision waits until sha is live.
func waitRevision(t *testing.T, e *apiEnv, sha string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if snap := e.op.Snapshot(); snap != nil && snap.Revision == sha {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("revision %s not live after 30 s", sha)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestUIRemovedPipeline: once a commit removes a pipeline, the dashboard
// lists its recent runs under "Removed from the repository" and its run
// pages say so and no longer link to a pipeline page that is gone.
func TestUIRemovedPipeline(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	oldRev := e.op.SyncState().Live.Revision
	finished := time.Now().Add(-time.Hour).UTC()
	if _, err := e.store.CreateRun(t.Context(), status.Run{ID: uiRunRemoved, Pipeline: "hello", Status: status.RunCancelled,
		Message: "cancelled: pipeline hello was removed from the repository by commit 0123abcd", Revision: oldRev,
		Trigger: status.TriggerManual, TriggeredBy: "alice", Attempt: 1,
		QueuedAt: finished.Add(-time.Minute), StartedAt: finished.Add(-50 * time.Second), FinishedAt: finished}); err != nil {
		t.Fatal(err)
	}
	normalize := func(page string) string {
		page = strings.ReplaceAll(page, oldRev, "OLDREVISION")
		page = strings.ReplaceAll(page, repo.ShortSHA(oldRev), "OLDREV")
		return normalizePage(e, page)
	}

	// While hello is live its runs are ordinary.
	if _, _, body := getPage(t, e, "/", true); strings.Contains(body, `id="removed-pipelines"`) {
		t.Errorf("dashboard lists removed pipelines while every pipeline is live:\n%s", removedSectionRE.FindString(body))
	}
	if _, _, body := getPage(t, e, "/runs/"+uiRunRemoved, true); strings.Contains(body, `id="run-removed"`) || !strings.Contains(body, `href="/pipelines/hello"`) {
		t.Errorf("run page of a live pipeline says it was removed, or links no pipeline page")
	}

	sha := e.remote.Commit("remove hello", map[string]string{"hello/main.py": ""})
	e.op.RequestSync(operator.TriggerManual)
	waitRevision(t, e, sha)

	code, _, body := getPage(t, e, "/", true)
	if code != http.StatusOK {
		t.Fatalf("dashboard: %d", code)
	}
	if strings.Contains(body, `<tr data-pipeline="hello" data-tags`) {
		t.Error("the removed pipeline is still a row of the pipelines table")
	}
	section := removedSectionRE.FindString(body)
	if section == "" {
		t.Fatalf("dashboard has no removed-pipelines section:\n%s", body)
	}
	checkUIGolden(t, "dashboard_removed.golden.html", normalize(section)+"\n")

	code, _, body = getPage(t, e, "/runs/"+uiRunRemoved, true)
	if code != http.StatusOK {
		t.Fatalf("run page: %d", code)
	}
	if strings.Contains(body, `href="/pipelines/hello"`) {
		t.Error("run page links the removed pipeline's page")
	}
	checkUIGolden(t, "run_removed.golden.html", normalize(body))

	// The removed pipeline has no page any more; its runs stay listed.
	if code, _, _ := getPage(t, e, "/pipelines/hello", true); code != http.StatusNotFound {
		t.Errorf("pipeline page of a removed pipeline: %d, want 404", code)
	}
}

// TestUIQueuedRun: the page of a run waiting for a slot says so, with the
// earliest time it may start.
func TestUIQueuedRun(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	// NotBefore far ahead: the operator must not claim it during the test.
	if _, err := e.store.CreateRun(t.Context(), status.Run{ID: uiRunQueued, Pipeline: "nightly", Status: status.RunPending,
		Revision: e.op.SyncState().Live.Revision, Trigger: status.TriggerRetry, Attempt: 2, RetryOf: uiRunFailed,
		QueuedAt: time.Date(2026, 11, 27, 7, 0, 0, 0, time.UTC), NotBefore: time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)}); err != nil {
		t.Fatal(err)
	}
	code, _, body := getPage(t, e, "/runs/"+uiRunQueued, true)
	if code != http.StatusOK {
		t.Fatalf("run page: %d", code)
	}
	if !strings.Contains(body, `<time datetime="2099-01-01T00:00:00Z"`) {
		t.Errorf("the not-before time is not on the page")
	}
	checkUIGolden(t, "run_queued.golden.html", normalizePage(e, body))
}

// TestRemovedPipelines: runs of pipelines the snapshot lacks, grouped by
// pipeline with the newest run first, each run counted once although an
// active run may be in both lists.
func TestRemovedPipelines(t *testing.T) {
	t.Parallel()
	snap := &repo.Snapshot{Pipelines: []repo.Pipeline{{Name: "live"}}}
	run := func(id, pipeline string) status.Run {
		return status.Run{ID: id, Pipeline: pipeline, Status: status.RunSuccess}
	}
	recent := []status.Run{run("r5", "gone"), run("r4", "live"), run("r3", "old"), run("r2", "gone"), run("r1", "gone")}
	active := []status.Run{run("r5", "gone"), run("r0", "ancient")}
	got := removedPipelines(snap, recent, active)
	type row struct {
		Name, Last string
		Runs       int
	}
	var rows []row
	for _, p := range got {
		rows = append(rows, row{p.Name, p.LastRun.ID, p.Runs})
	}
	want := []row{{"gone", "r5", 3}, {"old", "r3", 1}, {"ancient", "r0", 1}}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("removed pipelines (-want +got):\n%s", diff)
	}
	if got := removedPipelines(snap, []status.Run{run("r4", "live")}); len(got) != 0 {
		t.Errorf("runs of live pipelines listed as removed: %+v", got)
	}
}
