package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fastflow-dev/fastflow/repo/gittest"
	"github.com/fastflow-dev/fastflow/runtime/docker/dockertest"
	"github.com/fastflow-dev/fastflow/status/storetest"
	"github.com/fastflow-dev/fastflow/webui"
)

// TestReplicas runs three real `fastflow serve` processes on one
// PostgreSQL database and real Docker, started at the same moment: they
// migrate once and create the first admin once; a session made on one
// works on the others; a burst of 50 run requests spread over the three
// admits exactly the free slots of MAX_CONCURRENT_RUNS (its latency
// printed); and when the
// leader is killed with SIGKILL, another takes over and the one-second
// schedule keeps firing: every second fired once, none lost, none doubled.
func TestReplicas(t *testing.T) {
	dockertest.RequireImage(t, dockertest.WorkerImage)
	dbURL := storetest.Postgres(t)
	bin := hostileBinary(t)
	remote := gittest.New(t)
	remote.Commit("pipelines", map[string]string{
		// One long run holds a slot; every other fire is claimed and
		// skipped (Forbid), so each second leaves one row and no container.
		"failover-tick/main.py":       "import time\ntime.sleep(600)\n",
		"failover-tick/pipeline.json": `{"schedule": {"every": "1s"}, "catchup": "all"}`,
		"failover-burst/main.py":      "import time\ntime.sleep(3)\n",
	})
	t.Cleanup(func() { removeContainersOf(t, "failover-tick", "failover-burst") })
	dockerHost := os.Getenv("DOCKER_HOST")
	if dockerHost == "" {
		dockerHost = "unix:///var/run/docker.sock"
	}
	const lease = 3 * time.Second
	ids := []string{"replica-1", "replica-2", "replica-3"}
	replicas := make([]*servedBinary, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		data := t.TempDir()
		wg.Go(func() {
			replicas[i] = startServe(t, bin, remote.Dir, data, "DATABASE_URL="+dbURL, "REPLICA_ID="+id,
				"LEADER_LEASE="+lease.String(), "REPLICA_GRACE=1h", "MAX_CONCURRENT_RUNS=6",
				"WORKER_BASE_IMAGE=fastflow-worker:local", "WORKER_NETWORK=none", "DOCKER_HOST="+dockerHost)
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	byID := map[string]*servedBinary{}
	for i, id := range ids {
		byID[id] = replicas[i]
	}

	conn, err := pgx.Connect(t.Context(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	var admins int
	if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM users`).Scan(&admins); err != nil || admins != 1 {
		t.Errorf("users after three simultaneous first starts: %d, %v; want the one admin", admins, err)
	}

	health := func(s *servedBinary) webui.Health {
		t.Helper()
		resp, err := http.Get("http://" + s.addr + "/health")
		if err != nil {
			t.Fatalf("GET /health: %v", err)
		}
		defer resp.Body.Close()
		var h webui.Health
		if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
			t.Fatal(err)
		}
		return h
	}
	waitFor := func(what string, within time.Duration, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(within)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within %s", what, within)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	var leader string
	waitFor("a leader all three agree on, with all three replicas listed", 30*time.Second, func() bool {
		hs := []webui.Health{health(replicas[0]), health(replicas[1]), health(replicas[2])}
		leader = hs[0].Replicas.Leader
		for _, h := range hs {
			if h.Replicas.Leader != leader || leader == "" || len(h.Replicas.List) != 3 {
				return false
			}
		}
		return true
	})
	t.Logf("leader: %s", leader)

	// A session made on one replica works on the others.
	login := postLogin(t, http.DefaultClient, "http://"+replicas[0].addr, "admin", hostileAdminPassword, "")
	if login.StatusCode != http.StatusOK || len(login.Cookies()) == 0 {
		t.Fatalf("login on replica-1: %s, cookies %v", login.Status, login.Cookies())
	}
	for _, s := range replicas[1:] {
		req, _ := http.NewRequest("GET", "http://"+s.addr+"/api/pipelines", nil)
		for _, c := range login.Cookies() {
			req.AddCookie(c)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("replica-1's session on %s: %s", s.addr, resp.Status)
		}
	}

	// The tick's one long run holds a slot; a burst of 30 requests over
	// the three replicas admits exactly the other five.
	token := adminToken(t, bin, "DATABASE_URL="+dbURL)
	waitFor("the tick's run to be RUNNING", 60*time.Second, func() bool {
		var n int
		err := conn.QueryRow(t.Context(), `SELECT count(*) FROM runs WHERE pipeline = 'failover-tick' AND status = 'RUNNING'`).Scan(&n)
		return err == nil && n == 1
	})
	codes := make([]int, 50)
	took := make([]time.Duration, len(codes))
	var burst sync.WaitGroup
	start := make(chan struct{})
	for i := range codes {
		burst.Go(func() {
			<-start
			req, _ := http.NewRequest("POST", "http://"+replicas[i%3].addr+"/api/pipelines/failover-burst/run", strings.NewReader(`{}`))
			req.Header.Set("Authorization", "Bearer "+token)
			req.Header.Set("Content-Type", "application/json")
			began := time.Now()
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			codes[i], took[i] = resp.StatusCode, time.Since(began)
		})
	}
	close(start)
	burst.Wait()
	admitted, refused := 0, 0
	for _, c := range codes {
		switch c {
		case http.StatusCreated:
			admitted++
		case http.StatusTooManyRequests:
			refused++
		}
	}
	if admitted != 5 || refused != 45 {
		t.Errorf("burst over three replicas at MAX_CONCURRENT_RUNS=6 with one slot taken: %d admitted, %d refused (%v); want 5 and 45", admitted, refused, codes)
	}
	slices.Sort(took)
	p99 := took[len(took)*99/100]
	t.Logf("admission of 50 concurrent requests over three replicas: p50 %s, p99 %s (target < 50 ms, ratio %.2f)",
		took[len(took)/2].Round(time.Millisecond), p99.Round(time.Millisecond), p99.Seconds()/0.05)

	// SIGKILL the leader; another takes over and the schedule goes on.
	lastFireAt := func() time.Time {
		var at time.Time
		_ = conn.QueryRow(t.Context(), `SELECT max(created_at) FROM schedule_fires WHERE pipeline = 'failover-tick'`).Scan(&at)
		return at
	}
	waitFor("fires under the first leader", 20*time.Second, func() bool { return !lastFireAt().IsZero() })
	var dbNow time.Time
	if err := conn.QueryRow(t.Context(), `SELECT clock_timestamp()`).Scan(&dbNow); err != nil {
		t.Fatal(err)
	}
	if err := byID[leader].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_, _ = byID[leader].cmd.Process.Wait()
	var survivor *servedBinary
	for _, id := range ids {
		if id != leader {
			survivor = byID[id]
			break
		}
	}
	var next string
	waitFor("a new leader", 3*lease, func() bool {
		next = health(survivor).Replicas.Leader
		return next != "" && next != leader
	})
	var firstNew time.Time
	waitFor("the new leader's first fire", 3*lease, func() bool {
		err := conn.QueryRow(t.Context(), `SELECT min(created_at) FROM schedule_fires WHERE pipeline = 'failover-tick' AND created_at > $1`, dbNow).Scan(&firstNew)
		return err == nil && !firstNew.IsZero()
	})
	failover := firstNew.Sub(dbNow)
	t.Logf("leader failover: SIGKILL of %s to the first fire by %s took %s (target < LEADER_LEASE %s + 2 s; ratio %.2f)",
		leader, next, failover.Round(time.Millisecond), lease, failover.Seconds()/(lease+2*time.Second).Seconds())
	time.Sleep(5 * time.Second) // fires under the new leader

	rows, err := conn.Query(t.Context(), `SELECT fire_at FROM schedule_fires WHERE pipeline = 'failover-tick' ORDER BY fire_at`)
	if err != nil {
		t.Fatal(err)
	}
	fires, err := pgx.CollectRows(rows, pgx.RowTo[time.Time])
	if err != nil {
		t.Fatal(err)
	}
	if len(fires) < 8 {
		t.Fatalf("only %d fires recorded", len(fires))
	}
	var gaps []string
	for i := 1; i < len(fires); i++ {
		if d := fires[i].Sub(fires[i-1]); d != time.Second {
			gaps = append(gaps, fmt.Sprintf("%s after %s", d, fires[i-1].Format("15:04:05")))
		}
	}
	if len(gaps) > 0 {
		t.Errorf("%d fires from %s to %s: not one per second (%s); every second fires once across the failover (catchup all)",
			len(fires), fires[0].Format("15:04:05"), fires[len(fires)-1].Format("15:04:05"), strings.Join(gaps, ", "))
	}
	if !slices.IsSortedFunc(fires, func(a, b time.Time) int { return a.Compare(b) }) {
		t.Error("fires out of order")
	}
}

// adminToken creates an API token for the first admin with the CLI, on
// the database that settings (DATABASE_URL or DATA_DIR) name.
func adminToken(t *testing.T, bin string, settings ...string) string {
	t.Helper()
	cmd := exec.Command(bin, "token", "create", "test-token", "--user", "admin")
	cmd.Dir = t.TempDir()
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "DATA_DIR=" + t.TempDir()}, settings...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("token create: %v\n%s", err, errOut.String())
	}
	token := strings.TrimSpace(out.String())
	if !strings.HasPrefix(token, "ff_") {
		t.Fatalf("token create printed %q", token)
	}
	return token
}

// removeContainersOf removes the run containers of the named pipelines,
// which replicas killed by the test leave behind.
func removeContainersOf(t *testing.T, pipelines ...string) {
	for _, p := range pipelines {
		out, err := exec.Command("docker", "ps", "-aq", "--filter", "label=fastflow-pipeline="+p).Output()
		if err != nil {
			t.Logf("list containers of %s: %v", p, err)
			continue
		}
		if ids := strings.Fields(string(out)); len(ids) > 0 {
			if out, err := exec.Command("docker", append([]string{"rm", "-f"}, ids...)...).CombinedOutput(); err != nil {
				t.Logf("remove containers of %s: %v\n%s", p, err, out)
			}
		}
	}
}
