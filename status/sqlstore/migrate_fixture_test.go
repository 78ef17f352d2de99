package sqlstore

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/fastflow-dev/fastflow/status"
	"github.com/fastflow-dev/fastflow/status/credentials"
	"github.com/fastflow-dev/fastflow/status/secrets"
)

// fixtureDir holds one fixture per migration: NNNNN.sql is written against
// schema version NNNNN exactly (see doc.go).
const fixtureDir = "testdata/migrations"

// fixtureKey encrypted the secrets of the fixtures. It was generated once
// for them and protects nothing else.
const fixtureKey = "B4emetpiAhNQP7_hSP95BSKNULlNCs_kDmvRSoxxTao="

// fixtureChecks reads a migrated fixture back through the Store, one
// function per fixture version, and checks every row it wrote. A fixture
// without its check fails TestMigrationFixturesComplete.
var fixtureChecks = map[int64]func(t *testing.T, s *Store){
	1: checkFixture1,
	2: checkFixture2,
	3: checkFixture3,
	4: checkFixture4,
	5: checkFixture5,
	6: checkFixture6,
}

// fixtureVersions lists the version of every fixture file, sorted.
func fixtureVersions(t *testing.T) []int64 {
	t.Helper()
	entries, err := os.ReadDir(fixtureDir)
	if err != nil {
		t.Fatal(err)
	}
	var out []int64
	for _, e := range entries {
		stem, ok := strings.CutSuffix(e.Name(), ".sql")
		v, err := strconv.ParseInt(stem, 10, 64)
		if !ok || err != nil || len(stem) != 5 {
			t.Fatalf("%s/%s: a fixture is named NNNNN.sql after its migration", fixtureDir, e.Name())
		}
		out = append(out, v)
	}
	slices.Sort(out)
	return out
}

// migrationVersions lists the version of every migration of a dialect,
// sorted.
func migrationVersions(t *testing.T, dialect string) []int64 {
	t.Helper()
	entries, err := fs.ReadDir(migrations, "migrations/"+dialect)
	if err != nil {
		t.Fatal(err)
	}
	var out []int64
	for _, e := range entries {
		prefix, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.ParseInt(prefix, 10, 64)
		if !ok || err != nil || !strings.HasSuffix(e.Name(), ".sql") {
			t.Fatalf("migration %s/%s: name is not NNNNN_what.sql", dialect, e.Name())
		}
		out = append(out, v)
	}
	slices.Sort(out)
	return out
}

// TestMigrationFixturesComplete: both dialects carry the same migrations,
// numbered 1, 2, 3... without a gap; LatestSchemaVersion is the newest; and
// every migration has its fixture and its check, so a new migration cannot
// land without data written by its schema.
func TestMigrationFixturesComplete(t *testing.T) {
	t.Parallel()
	sqlite, postgres := migrationVersions(t, "sqlite"), migrationVersions(t, "postgres")
	if d := cmp.Diff(sqlite, postgres); d != "" {
		t.Errorf("the dialects' migrations differ (-sqlite +postgres):\n%s", d)
	}
	for i, v := range sqlite {
		if v != int64(i+1) {
			t.Errorf("migrations are %v; want 1, 2, 3... without a gap", sqlite)
			break
		}
	}
	if len(sqlite) == 0 {
		t.Fatal("no migrations")
	}
	newest := sqlite[len(sqlite)-1]
	if got := LatestSchemaVersion(); got != newest {
		t.Errorf("LatestSchemaVersion = %d, want %d", got, newest)
	}
	if got, err := newestMigration("postgres"); err != nil || got != newest {
		t.Errorf("newestMigration(postgres) = %d, %v; want %d", got, err, newest)
	}
	fixtures := fixtureVersions(t)
	if d := cmp.Diff(sqlite, fixtures); d != "" {
		t.Errorf("every migration needs %s/NNNNN.sql written against its schema, and no fixture may lack a migration (-migrations +fixtures):\n%s", fixtureDir, d)
	}
	for _, v := range fixtures {
		if fixtureChecks[v] == nil {
			t.Errorf("fixture %05d has no check in fixtureChecks", v)
		}
	}
}

// TestMigrateFixtures: for each fixture N, a fresh database migrated to
// exactly version N is filled by the fixture, migrated to the newest
// version and read back through the Store, on SQLite and on PostgreSQL.
func TestMigrateFixtures(t *testing.T) {
	t.Parallel()
	for _, v := range fixtureVersions(t) {
		check := fixtureChecks[v]
		if check == nil {
			continue // TestMigrationFixturesComplete says so
		}
		sqlText, err := os.ReadFile(filepath.Join(fixtureDir, fmt.Sprintf("%05d.sql", v)))
		if err != nil {
			t.Fatal(err)
		}
		t.Run(fmt.Sprintf("%05d", v), func(t *testing.T) {
			t.Parallel()
			internalDialects(t, func(t *testing.T, s *Store) {
				applyFixture(t, s, v, string(sqlText))
				if err := s.Migrate(t.Context()); err != nil {
					t.Fatalf("migrate from %d: %v", v, err)
				}
				if got, err := s.SchemaVersion(t.Context()); err != nil || got != LatestSchemaVersion() {
					t.Fatalf("schema version after Migrate = %d, %v; want %d", got, err, LatestSchemaVersion())
				}
				check(t, s)
			})
		})
	}
}

// applyFixture migrates s to exactly version v and runs the fixture in one
// transaction.
func applyFixture(t *testing.T, s *Store, v int64, sqlText string) {
	t.Helper()
	ctx := t.Context()
	p, err := s.provider()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, v); err != nil {
		t.Fatalf("migrate to %d: %v", v, err)
	}
	if got, err := s.SchemaVersion(ctx); err != nil || got != v {
		t.Fatalf("schema version = %d, %v; want %d", got, err, v)
	}
	if s.d.postgres {
		// The fixtures write bytes as CAST('...' AS BLOB), SQLite's
		// spelling; a domain gives PostgreSQL the same name for bytea.
		if _, err := s.w.ExecContext(ctx, "CREATE DOMAIN blob AS bytea"); err != nil {
			t.Fatal(err)
		}
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, sqlText); err != nil {
		_ = tx.Rollback()
		t.Fatalf("fixture %05d on schema %d: %v", v, v, err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if s.d.postgres {
		if _, err := s.w.ExecContext(ctx, "DROP DOMAIN blob"); err != nil {
			t.Fatal(err)
		}
	}
}

// at parses a fixture's time.
func at(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return v.UTC()
}

func intp(n int) *int { return &n }

// checkRuns compares every run of want with what GetRun returns, and the
// whole listing with want.
func checkRuns(t *testing.T, s *Store, want []status.Run) {
	t.Helper()
	ctx := t.Context()
	for _, w := range want {
		got, err := s.GetRun(ctx, w.ID)
		if err != nil {
			t.Errorf("GetRun(%s): %v", w.ID, err)
			continue
		}
		if d := cmp.Diff(w, got); d != "" {
			t.Errorf("run %s after migration (-want +got):\n%s", w.ID, d)
		}
	}
	page, err := s.ListRuns(ctx, status.RunFilter{Order: status.OrderAsc, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, page.Runs); d != "" {
		t.Errorf("ListRuns after migration (-want +got):\n%s", d)
	}
}

// checkFixture1 reads back 00001.sql.
func checkFixture1(t *testing.T, s *Store) {
	ctx := t.Context()
	const rev = "main@sha1:3f2c9a0d1e2b3c4d5e6f708192a3b4c5d6e7f809"
	id := func(n string) string { return "0195f000-0000-7000-8000-0000000000" + n }
	runs := []status.Run{
		{ID: id("01"), Pipeline: "nightly", Status: status.RunSuccess, ExitCode: intp(0), Revision: rev,
			Trigger: status.TriggerSchedule, TriggeredBy: "scheduler", Attempt: 1, ContainerID: "c0ffee01",
			Parameters: map[string]string{"DATE": "2025-03-01"}, EnvNames: []string{"LOG_LEVEL", "API_TOKEN"},
			QueuedAt: at(t, "2025-03-01T04:00:00Z"), StartedAt: at(t, "2025-03-01T04:00:01Z"), FinishedAt: at(t, "2025-03-01T04:00:09.1Z"),
			UVVersion: "uv 0.9.2", SetupDuration: 1400 * time.Millisecond, PeakCPUPercent: 97.5, PeakRAMBytes: 67004416,
			SoftLimitExceeded: true, LogPath: "/data/logs/" + id("01") + ".log", MetricsPath: "/data/logs/" + id("01") + ".metrics.jsonl"},
		{ID: id("02"), Pipeline: "hello", Status: status.RunFailed, ErrorType: status.ErrorOOM, ExitCode: intp(137),
			Message: "killed: out of memory (limit 64 MiB)", Revision: rev, Trigger: status.TriggerManual, TriggeredBy: "alice",
			Attempt: 1, ContainerID: "c0ffee02",
			QueuedAt: at(t, "2025-03-01T05:00:00Z"), StartedAt: at(t, "2025-03-01T05:00:01Z"), FinishedAt: at(t, "2025-03-01T05:00:03Z"),
			UVVersion: "uv 0.9.2", SetupDuration: 900 * time.Millisecond, PeakCPUPercent: 100, PeakRAMBytes: 67108864,
			SoftLimitExceeded: true, LogPath: "/data/logs/2.log", MetricsPath: "/data/logs/2.metrics.jsonl"},
		{ID: id("03"), Pipeline: "hello", Status: status.RunFailed, ErrorType: status.ErrorExitCode, ExitCode: intp(1),
			Message: "it's broken: ünïcödé\nand a second line", Revision: rev, Trigger: status.TriggerRetry, TriggeredBy: "alice",
			Attempt: 2, RetryOf: id("02"), ContainerID: "c0ffee03",
			QueuedAt: at(t, "2025-03-01T05:00:13Z"), StartedAt: at(t, "2025-03-01T05:00:14Z"), FinishedAt: at(t, "2025-03-01T05:00:15Z"),
			UVVersion: "uv 0.9.2", PeakCPUPercent: 12.25, PeakRAMBytes: 1048576, LogPath: "/data/logs/3.log"},
		{ID: id("04"), Pipeline: "hello", Status: status.RunSuccess, ExitCode: intp(0), Revision: rev,
			Trigger: status.TriggerRetry, TriggeredBy: "alice", Attempt: 3, RetryOf: id("03"), ContainerID: "c0ffee04",
			QueuedAt: at(t, "2025-03-01T05:00:35Z"), StartedAt: at(t, "2025-03-01T05:00:36Z"), FinishedAt: at(t, "2025-03-01T05:00:40Z"),
			UVVersion: "uv 0.9.2", PeakCPUPercent: 50, PeakRAMBytes: 2097152, LogPath: "/data/logs/4.log"},
		{ID: id("05"), Pipeline: "slow", Status: status.RunTimeout, ExitCode: intp(143), Message: "timed out after 60 s",
			Revision: rev, Trigger: status.TriggerSchedule, TriggeredBy: "scheduler", Attempt: 1, ContainerID: "c0ffee05",
			QueuedAt: at(t, "2025-03-01T06:00:00Z"), StartedAt: at(t, "2025-03-01T06:00:01Z"), FinishedAt: at(t, "2025-03-01T06:01:01Z")},
		{ID: id("06"), Pipeline: "slow", Status: status.RunCancelled, Message: "cancelled by bob", Revision: rev,
			Trigger: status.TriggerManual, TriggeredBy: "bob", Attempt: 1, ContainerID: "c0ffee06",
			Parameters: map[string]string{"SIZE": "large"},
			QueuedAt:   at(t, "2025-03-01T07:00:00Z"), StartedAt: at(t, "2025-03-01T07:00:01Z"), FinishedAt: at(t, "2025-03-01T07:00:30Z")},
		{ID: id("07"), Pipeline: "nightly", Status: status.RunInterrupted, Message: "operator restarted", Revision: rev,
			Trigger: status.TriggerWebhook, TriggeredBy: "github", Attempt: 1,
			QueuedAt: at(t, "2025-03-01T08:00:00Z"), StartedAt: at(t, "2025-03-01T08:00:01Z"), FinishedAt: at(t, "2025-03-01T08:00:02Z")},
		// Migration 2 gave the RUNNING run and the PENDING one with a
		// container their slots; the other PENDING one queues.
		{ID: id("08"), Pipeline: "nightly", Status: status.RunRunning, Revision: "main@sha1:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
			Trigger: status.TriggerManual, TriggeredBy: "alice", Attempt: 1, ContainerID: "c0ffee08", EnvNames: []string{"LOG_LEVEL"},
			QueuedAt: at(t, "2025-03-01T09:00:00Z"), StartedAt: at(t, "2025-03-01T09:00:01Z"), UVVersion: "uv 0.9.2",
			LogPath: "/data/logs/8.log", Admitted: true},
		{ID: id("09"), Pipeline: "hello", Status: status.RunPending, Revision: "main@sha1:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
			Trigger: status.TriggerManual, TriggeredBy: "alice", Attempt: 1, ContainerID: "c0ffee09",
			QueuedAt: at(t, "2025-03-01T09:00:05Z"), Admitted: true},
		{ID: id("0a"), Pipeline: "slow", Status: status.RunPending, Trigger: status.TriggerSchedule, TriggeredBy: "scheduler",
			Attempt: 1, QueuedAt: at(t, "2025-03-01T09:00:10Z")},
	}
	checkRuns(t, s, runs)
	retries, err := s.ListRuns(ctx, status.RunFilter{RetryOf: id("02")})
	if err != nil || len(retries.Runs) != 1 || retries.Runs[0].ID != id("03") {
		t.Errorf("retries of %s = %+v, %v; want %s", id("02"), retries.Runs, err, id("03"))
	}
	active, err := s.ActiveRevisions(ctx)
	// The queued run has no revision yet, so none to keep.
	if d := cmp.Diff([]string{"main@sha1:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "main@sha1:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"}, active); err != nil || d != "" {
		t.Errorf("ActiveRevisions = %v, %v; (-want +got):\n%s", active, err, d)
	}
	queued, _, err := s.QueueState(ctx, at(t, "2025-03-01T10:00:00Z"))
	if err != nil || queued != 1 {
		t.Errorf("QueueState = %d queued, %v; want 1", queued, err)
	}

	pipelines, err := s.ListPipelines(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantPipelines := []status.Pipeline{
		{Name: "hello", HasRequirements: true, RequirementsHash: "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
			LastCacheWarmup: at(t, "2025-03-01T03:00:05Z"), CacheStatus: "ok", CacheOutput: "Resolved 3 packages in 120ms",
			TotalRuns: 3, SuccessfulRuns: 1, FailedRuns: 2, CountersResetAt: at(t, "2025-02-01T00:00:00Z")},
		{Name: "nightly", TotalRuns: 1, SuccessfulRuns: 1},
		{Name: "slow", CacheStatus: "failed", CacheOutput: "error: No solution found", TotalRuns: 1, FailedRuns: 1},
	}
	if d := cmp.Diff(wantPipelines, pipelines); d != "" {
		t.Errorf("pipelines after migration (-want +got):\n%s", d)
	}

	states, err := s.ListScheduleStates(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	wantStates := []status.ScheduleState{
		{Pipeline: "nightly", Key: "cron:0 5 * * *@Europe/Berlin", LastFire: at(t, "2025-03-01T04:00:00Z"), NextFire: at(t, "2025-03-02T04:00:00Z")},
		{Pipeline: "slow", Key: "every:15m", NextFire: at(t, "2025-03-01T06:15:00Z")},
	}
	if d := cmp.Diff(wantStates, states); d != "" {
		t.Errorf("schedule states after migration (-want +got):\n%s", d)
	}
	// No method reads fires back; a claimed fire is claimed for good.
	for _, key := range []string{"nightly|cron:0 5 * * *@Europe/Berlin|2025-03-01T04:00:00Z", "slow|every:15m|2025-03-01T06:15:00Z"} {
		pipeline, _, _ := strings.Cut(key, "|")
		if err := s.RecordFire(ctx, status.Fire{Key: key, Pipeline: pipeline, FireAt: at(t, "2025-03-01T04:00:00Z")}); !errors.Is(err, status.ErrConflict) {
			t.Errorf("RecordFire(%q) of a fixture fire = %v, want ErrConflict", key, err)
		}
	}
	if err := s.RecordFire(ctx, status.Fire{Key: "nightly|new", Pipeline: "nightly", FireAt: at(t, "2025-03-02T04:00:00Z")}); err != nil {
		t.Errorf("RecordFire of a new fire: %v", err)
	}

	wantSecrets := []status.Secret{
		{Key: "API_TOKEN", CreatedAt: at(t, "2025-02-01T10:00:00Z"), UpdatedAt: at(t, "2025-02-15T10:00:00Z")},
		{Key: "MULTI_LINE", CreatedAt: at(t, "2025-02-02T10:00:00Z"), UpdatedAt: at(t, "2025-02-02T10:00:00Z")},
	}
	gotSecrets, err := s.ListSecrets(ctx)
	if d := cmp.Diff(wantSecrets, gotSecrets); err != nil || d != "" {
		t.Errorf("ListSecrets = %v (-want +got):\n%s", err, d)
	}
	vault, err := secrets.New(s, fixtureKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := vault.Check(ctx); err != nil {
		t.Errorf("the fixture key no longer opens the secrets: %v", err)
	}
	values, err := vault.Secrets(ctx, []string{"API_TOKEN", "MULTI_LINE"})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(map[string]string{"API_TOKEN": "tok-3f2c-fixture-value",
		"MULTI_LINE": "line one\nline two with ünïcödé and 'quotes'"}, values); d != "" {
		t.Errorf("decrypted secrets (-want +got):\n%s", d)
	}

	users, err := s.ListUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantUsers := []status.User{
		{Username: "alice", PasswordHash: "$2a$04$KCe2R4IIz1URfQ8IvS7a0.HZTsduI.ONcgsZVo0tJo/OL/af8wAV.",
			CreatedAt: at(t, "2025-01-01T00:00:00Z"), UpdatedAt: at(t, "2025-01-10T00:00:00Z")},
		{Username: "bob", PasswordHash: "$2a$04$IddazJcSPuAFzp7GkF922e6OKHkMGFXkNhDvGRWmv3OaTmwjBXRSa",
			CreatedAt: at(t, "2025-01-02T00:00:00Z"), UpdatedAt: at(t, "2025-01-02T00:00:00Z")},
	}
	if d := cmp.Diff(wantUsers, users, cmpopts.IgnoreFields(status.User{}, "ID")); d != "" {
		t.Errorf("users after migration (-want +got):\n%s", d)
	}
	passwords := map[string]string{"alice": "alice-fixture-password", "bob": "bob-fixture-password"}
	userIDs := map[string]int64{}
	for _, u := range users {
		userIDs[u.Username] = u.ID
		if !credentials.CheckPassword(u.PasswordHash, passwords[u.Username]) {
			t.Errorf("%s's password no longer matches her hash", u.Username)
		}
	}

	sess, err := s.GetSession(ctx, credentials.HashToken("session-live"))
	if err != nil {
		t.Errorf("live session: %v", err)
	} else if sess.Username != "alice" || sess.UserID != userIDs["alice"] || !sess.ExpiresAt.Equal(at(t, "2099-01-01T00:00:00Z")) {
		t.Errorf("live session = %+v, want alice's until 2099", sess)
	}
	if _, err := s.GetSession(ctx, credentials.HashToken("session-expired")); !errors.Is(err, status.ErrNotFound) {
		t.Errorf("expired session = %v, want ErrNotFound", err)
	}
	if n, err := s.DeleteExpiredSessions(ctx); err != nil || n != 1 {
		t.Errorf("DeleteExpiredSessions = %d, %v; want 1", n, err)
	}

	tokens, err := s.ListAPITokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantTokens := []status.APIToken{
		{Hash: credentials.HashToken("ff_fixture_ci_token"), Name: "ci", UserID: userIDs["alice"], Username: "alice",
			CreatedAt: at(t, "2025-01-05T00:00:00Z")},
		{Hash: credentials.HashToken("ff_fixture_revoked_token"), Name: "old-deploy", UserID: userIDs["bob"], Username: "bob",
			CreatedAt: at(t, "2025-01-06T00:00:00Z"), RevokedAt: at(t, "2025-02-06T00:00:00Z")},
	}
	if d := cmp.Diff(wantTokens, tokens, cmpopts.IgnoreFields(status.APIToken{}, "ID")); d != "" {
		t.Errorf("API tokens after migration (-want +got):\n%s", d)
	}
	if tok, err := s.GetAPIToken(ctx, credentials.HashToken("ff_fixture_ci_token")); err != nil || tok.Username != "alice" {
		t.Errorf("GetAPIToken(ci) = %+v, %v; want alice's", tok, err)
	}
	if _, err := s.GetAPIToken(ctx, credentials.HashToken("ff_fixture_revoked_token")); !errors.Is(err, status.ErrNotFound) {
		t.Errorf("GetAPIToken(revoked) = %v, want ErrNotFound", err)
	}

	for _, d := range []status.Delivery{
		{ID: "72d3162e-cc78-11e3-81ab-4c9367dc0958", Event: "push", ReceivedAt: at(t, "2025-03-01T03:02:00Z")},
		{ID: "72d3162e-cc78-11e3-81ab-4c9367dc0959", Event: "ping", ReceivedAt: at(t, "2025-02-28T12:00:00Z")},
	} {
		if err := s.RecordDelivery(ctx, d); !errors.Is(err, status.ErrConflict) {
			t.Errorf("RecordDelivery(%s) of a fixture delivery = %v, want ErrConflict", d.ID, err)
		}
	}

	syncs, err := s.ListSyncs(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	wantSyncs := []status.SyncEvent{
		{Trigger: "webhook", StartedAt: at(t, "2025-03-01T03:02:00Z"), FinishedAt: at(t, "2025-03-01T03:02:10Z"),
			Branch: "main", Outcome: status.SyncFailed, Error: "fetch: authentication required"},
		{Trigger: "poll", StartedAt: at(t, "2025-03-01T03:01:00Z"), FinishedAt: at(t, "2025-03-01T03:01:00.25Z"), Revision: rev,
			Branch: "main", CommitMessage: "Add nightly", Outcome: status.SyncUnchanged, Pipelines: 3, Problems: 1},
		{Trigger: "startup", StartedAt: at(t, "2025-03-01T03:00:00Z"), FinishedAt: at(t, "2025-03-01T03:00:02.5Z"), Revision: rev,
			Branch: "main", CommitMessage: "Add nightly", Outcome: status.SyncUpdated, Pipelines: 3, Problems: 1},
	}
	if d := cmp.Diff(wantSyncs, syncs, cmpopts.IgnoreFields(status.SyncEvent{}, "ID")); d != "" {
		t.Errorf("syncs after migration (-want +got):\n%s", d)
	}

	// The upgraded database takes new rows beside the old ones: identity
	// columns go on after the fixture's, and admission sees its slots.
	carol, err := s.CreateUser(ctx, "carol", "$2a$04$x")
	if err != nil || slices.Contains([]int64{userIDs["alice"], userIDs["bob"]}, carol.ID) {
		t.Errorf("CreateUser after migration = %+v, %v; want a new ID", carol, err)
	}
	if _, err := s.CreateAPIToken(ctx, status.APIToken{Hash: credentials.HashToken("ff_new"), Name: "new", UserID: carol.ID}); err != nil {
		t.Errorf("CreateAPIToken after migration: %v", err)
	}
	if _, err := s.RecordSync(ctx, status.SyncEvent{Trigger: "poll", StartedAt: at(t, "2025-03-01T04:00:00Z"), Outcome: status.SyncUnchanged}); err != nil {
		t.Errorf("RecordSync after migration: %v", err)
	}
	claimed, err := s.ClaimQueued(ctx, 3, at(t, "2025-03-01T10:00:00Z"))
	if err != nil || len(claimed) != 1 || claimed[0].ID != id("0a") {
		t.Errorf("ClaimQueued(limit 3) with 2 slots held = %+v, %v; want the queued run %s alone", claimed, err, id("0a"))
	}
	ok, err := s.FinishRun(ctx, status.Run{ID: id("08"), Status: status.RunSuccess, ExitCode: intp(0),
		FinishedAt: at(t, "2025-03-01T10:00:00Z"), ContainerID: "c0ffee08"}, status.RunRunning)
	if err != nil || !ok {
		t.Errorf("FinishRun of the fixture's RUNNING run = %v, %v", ok, err)
	}
	if p, err := s.GetPipelineStats(ctx, "nightly"); err != nil || p.TotalRuns != 2 || p.SuccessfulRuns != 2 {
		t.Errorf("nightly after one more success = %+v, %v; want 2 of 2", p, err)
	}
}

// checkFixture2 reads back 00002.sql.
func checkFixture2(t *testing.T, s *Store) {
	ctx := t.Context()
	const rev = "main@sha1:cccccccccccccccccccccccccccccccccccccccc"
	id := func(n string) string { return "0195f000-0000-7000-8000-000000000" + n }
	runs := []status.Run{
		{ID: id("201"), Pipeline: "report", Status: status.RunFailed, ErrorType: status.ErrorExitCode, ExitCode: intp(2),
			Message: "exit status 2; the log stream broke, lines may be missing", Revision: rev,
			Trigger: status.TriggerManual, TriggeredBy: "alice", Attempt: 1, ContainerID: "c0ffee21",
			Parameters: map[string]string{"MONTH": "2025-02"}, EnvNames: []string{"DEBUG"},
			QueuedAt: at(t, "2025-03-02T10:00:00Z"), StartedAt: at(t, "2025-03-02T10:00:01Z"), FinishedAt: at(t, "2025-03-02T10:00:30Z"),
			UVVersion: "uv 0.9.3", SetupDuration: 2500 * time.Millisecond, PeakCPUPercent: 31.5, PeakRAMBytes: 10485760,
			LogPath: "/data/logs/201.log", MetricsPath: "/data/logs/201.metrics.jsonl",
			RequestEnv: map[string]string{"DEBUG": "1"}, LogIncomplete: true},
		{ID: id("202"), Pipeline: "report", Status: status.RunPending, Message: "waiting for retry_delay", Revision: rev,
			Trigger: status.TriggerRetry, TriggeredBy: "alice", Attempt: 2, RetryOf: id("201"),
			Parameters: map[string]string{"MONTH": "2025-02"},
			QueuedAt:   at(t, "2025-03-02T10:00:31Z"), NotBefore: at(t, "2099-03-02T10:01:31Z"),
			RequestEnv: map[string]string{"DEBUG": "1"}},
		{ID: id("203"), Pipeline: "report", Status: status.RunPending, Revision: rev,
			Trigger: status.TriggerSchedule, TriggeredBy: "scheduler", Attempt: 1,
			QueuedAt: at(t, "2025-03-02T11:00:00Z"), Admitted: true},
		{ID: id("204"), Pipeline: "export", Status: status.RunPending, Revision: rev,
			Trigger: status.TriggerManual, TriggeredBy: "bob", Attempt: 1,
			QueuedAt: at(t, "2025-03-02T11:00:01Z"), RequestEnv: map[string]string{"LIMIT": "10"}},
	}
	checkRuns(t, s, runs)

	now := at(t, "2025-03-03T00:00:00Z")
	queued, next, err := s.QueueState(ctx, now)
	if err != nil || queued != 2 || !next.Equal(at(t, "2099-03-02T10:01:31Z")) {
		t.Errorf("QueueState = %d, %v, %v; want 2 queued, the next at 2099-03-02T10:01:31Z", queued, next, err)
	}
	// One slot is held (203); with a limit of 3 the export run is claimed
	// and the retry waits for its NotBefore.
	claimed, err := s.ClaimQueued(ctx, 3, now)
	if err != nil || len(claimed) != 1 || claimed[0].ID != id("204") || claimed[0].RequestEnv["LIMIT"] != "10" {
		t.Errorf("ClaimQueued = %+v, %v; want %s with its request env", claimed, err, id("204"))
	}

	p, err := s.GetPipelineStats(ctx, "report")
	want := status.Pipeline{Name: "report", HasRequirements: true,
		RequirementsHash: "sha256:60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752",
		LastCacheWarmup:  at(t, "2025-03-02T09:00:00Z"), CacheStatus: "ok",
		TotalRuns: 12, SuccessfulRuns: 9, FailedRuns: 3, CancelledRuns: 4, InterruptedRuns: 2}
	if d := cmp.Diff(want, p); err != nil || d != "" {
		t.Errorf("GetPipelineStats(report) = %v (-want +got):\n%s", err, d)
	}
	if err := s.IncrementCounters(ctx, "report", status.RunCancelled); err != nil {
		t.Fatal(err)
	}
	if p, err := s.GetPipelineStats(ctx, "report"); err != nil || p.CancelledRuns != 5 || p.TotalRuns != 12 {
		t.Errorf("report after one more cancel = %+v, %v; want 5 cancelled, 12 total", p, err)
	}
}

// checkFixture3 reads back 00003.sql.
func checkFixture3(t *testing.T, s *Store) {
	ctx := t.Context()
	const rev = "main@sha1:dddddddddddddddddddddddddddddddddddddddd"
	id := func(n string) string { return "0195f000-0000-7000-8000-000000000" + n }
	run := func(n string) status.Run {
		return status.Run{ID: id(n), Pipeline: "nightly", Status: status.RunSuccess, ExitCode: intp(0), Revision: rev,
			Trigger: status.TriggerSchedule, TriggeredBy: "scheduler", Attempt: 1, ContainerID: "c0ffee3" + n[2:],
			UVVersion: "uv 0.9.4", SetupDuration: time.Second, PeakCPUPercent: 12.5, PeakRAMBytes: 2097152, Admitted: true}
	}
	removed, kept := run("301"), run("302")
	removed.QueuedAt, removed.StartedAt, removed.FinishedAt = at(t, "2025-04-01T02:00:00Z"), at(t, "2025-04-01T02:00:01Z"), at(t, "2025-04-01T02:00:09Z")
	removed.LogRemovedAt, removed.LogRemovedReason = at(t, "2025-05-01T03:00:00Z"), "LOG_RETENTION_DAYS"
	kept.QueuedAt, kept.StartedAt, kept.FinishedAt = at(t, "2025-04-02T02:00:00Z"), at(t, "2025-04-02T02:00:01Z"), at(t, "2025-04-02T02:00:09Z")
	kept.LogPath, kept.MetricsPath = "/data/logs/302.log", "/data/logs/302.metrics.jsonl"
	checkRuns(t, s, []status.Run{removed, kept})
	due, err := s.RunsDue(ctx, status.RetentionQuery{Pipeline: "nightly", Before: at(t, "2026-01-01T00:00:00Z"), Rows: true})
	if err != nil || len(due) != 1 || due[0].ID != id("301") {
		t.Errorf("RunsDue(rows) = %v, %v; want only %s (%s is the newest)", due, err, id("301"), id("302"))
	}
}

// checkFixture4 reads back 00004.sql: both notifications as written, the
// pending one still due to its claimer, and a new one beside them.
func checkFixture4(t *testing.T, s *Store) {
	ctx := t.Context()
	const run = "0195f000-0000-7000-8000-000000000401"
	got, err := s.ListNotifications(ctx, run)
	if err != nil {
		t.Fatal(err)
	}
	want := []status.Notification{
		{ID: 2, RunID: run, Target: "HOOK_URL", Format: "json", SigningSecret: "HOOK_KEY", Event: "failure",
			State: status.NotificationPending, Attempts: 3, NextAttemptAt: at(t, "2025-05-01T02:05:00Z"),
			LastError: "HTTP 503 Service Unavailable", CreatedAt: at(t, "2025-05-01T02:00:09Z")},
		{ID: 1, RunID: run, Target: "SLACK_URL", Format: "slack", Event: "failure", State: status.NotificationDelivered,
			Attempts: 1, NextAttemptAt: at(t, "2025-05-01T02:00:09Z"), CreatedAt: at(t, "2025-05-01T02:00:09Z"),
			DeliveredAt: at(t, "2025-05-01T02:00:10Z")},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("notifications (-want +got):\n%s", d)
	}
	claimed, err := s.ClaimNotifications(ctx, at(t, "2025-05-01T03:00:00Z"), time.Minute, 10)
	if err != nil || len(claimed) != 1 || claimed[0].ID != 2 {
		t.Errorf("ClaimNotifications = %+v, %v; want only HOOK_URL", claimed, err)
	}
	if err := s.EnqueueNotifications(ctx, []status.Notification{{RunID: run, Target: "OTHER", Format: "slack", Event: "failure"}}); err != nil {
		t.Fatal(err)
	}
	got, err = s.ListNotifications(ctx, run)
	if err != nil || len(got) != 3 || got[1].Target != "OTHER" || got[1].ID <= 2 {
		t.Errorf("after a new enqueue: %+v, %v; want OTHER with a new id", got, err)
	}
}

// checkFixture5 reads back 00005.sql: the expired lease is free for the
// next replica, which gets the next term; the old replica is listed.
func checkFixture5(t *testing.T, s *Store) {
	ctx := t.Context()
	l, err := s.GetLease(ctx, "leader")
	if err != nil || l.Holder != "replica-a" || l.Term != 7 || l.Held("replica-a") ||
		!l.AcquiredAt.Equal(at(t, "2025-06-01T02:00:00Z")) || !l.ExpiresAt.Equal(at(t, "2025-06-01T02:10:15Z")) {
		t.Errorf("GetLease = %+v, %v; want replica-a's expired term 7", l, err)
	}
	next, err := s.TryLease(ctx, "leader", "replica-b", time.Minute)
	if err != nil || !next.Held("replica-b") || next.Term != 8 {
		t.Errorf("TryLease by replica-b = %+v, %v; want term 8", next, err)
	}
	rs, err := s.ListReplicas(ctx, time.Time{})
	want := []status.Replica{{ID: "replica-a", Host: "node-1", Version: "v1.4.0", StartedAt: at(t, "2025-06-01T01:59:58Z"), LastSeen: at(t, "2025-06-01T02:10:05Z")}}
	if d := cmp.Diff(want, rs); err != nil || d != "" {
		t.Errorf("ListReplicas (-want +got) %v:\n%s", err, d)
	}
	if r, err := s.GetRun(ctx, "0195f000-0000-7000-8000-000000000501"); err != nil || r.Replica != "replica-a" || r.Status != status.RunRunning {
		t.Errorf("GetRun = %+v, %v; want replica-a's RUNNING run", r, err)
	}
}

// checkFixture6 reads back 00006.sql: the runs are intact, the indexes
// are there, the files rule finds the older run, and deleting a run takes
// its fire and no other.
func checkFixture6(t *testing.T, s *Store) {
	ctx := t.Context()
	const rev = "main@sha1:6666666666666666666666666666666666666666"
	id := func(n string) string { return "0195f000-0000-7000-8000-000000000" + n }
	run := func(n string) status.Run {
		return status.Run{ID: id(n), Pipeline: "weekly", Revision: rev, Trigger: status.TriggerSchedule, TriggeredBy: "scheduler",
			Attempt: 1, ContainerID: "c0ffee6" + n[2:], UVVersion: "uv 0.9.5", SetupDuration: time.Second,
			PeakCPUPercent: 12.5, PeakRAMBytes: 2097152, Admitted: true,
			LogPath: "/data/logs/" + n + ".log", MetricsPath: "/data/logs/" + n + ".metrics.jsonl"}
	}
	old, kept := run("601"), run("602")
	old.Status, old.ExitCode = status.RunSuccess, intp(0)
	old.QueuedAt, old.StartedAt, old.FinishedAt = at(t, "2025-06-01T02:00:00Z"), at(t, "2025-06-01T02:00:01Z"), at(t, "2025-06-01T02:00:09Z")
	kept.Status, kept.ErrorType, kept.ExitCode, kept.Message = status.RunFailed, status.ErrorExitCode, intp(1), "exit code 1"
	kept.QueuedAt, kept.StartedAt, kept.FinishedAt = at(t, "2025-06-08T02:00:00Z"), at(t, "2025-06-08T02:00:01Z"), at(t, "2025-06-08T02:00:09Z")
	checkRuns(t, s, []status.Run{old, kept})

	indexQuery := `SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name IN ('schedule_fires_run', 'runs_with_files')`
	if s.d.postgres {
		indexQuery = `SELECT count(*) FROM pg_indexes WHERE indexname IN ('schedule_fires_run', 'runs_with_files')`
	}
	var indexes int
	if err := s.r.QueryRowContext(ctx, indexQuery).Scan(&indexes); err != nil || indexes != 2 {
		t.Errorf("indexes schedule_fires_run and runs_with_files: %d of them, %v; want both", indexes, err)
	}
	// The fixture's runs still have their files, so the files rule finds
	// the older one through runs_with_files.
	due, err := s.RunsDue(ctx, status.RetentionQuery{Pipeline: "weekly", KeepRuns: 1})
	if err != nil || len(due) != 1 || due[0].ID != id("601") {
		t.Errorf("RunsDue(files, keep 1) = %v, %v; want only %s", due, err, id("601"))
	}

	if n, err := s.DeleteRuns(ctx, []string{id("601")}); err != nil || n != 1 {
		t.Fatalf("DeleteRuns(%s) = %d, %v; want 1", id("601"), n, err)
	}
	fire := func(day string) status.Fire {
		return status.Fire{Key: "weekly|cron:0 2 * * 0|2025-06-" + day + "T02:00:00Z", Pipeline: "weekly", FireAt: at(t, "2025-06-"+day+"T02:00:00Z")}
	}
	// Claiming a fire again succeeds only if its record is gone.
	if err := s.RecordFire(ctx, fire("01")); err != nil {
		t.Errorf("the fire of the deleted run is still recorded: %v", err)
	}
	for _, day := range []string{"08", "15"} {
		if err := s.RecordFire(ctx, fire(day)); !errors.Is(err, status.ErrConflict) {
			t.Errorf("RecordFire of the fixture fire of 2025-06-%s = %v, want ErrConflict (it must survive)", day, err)
		}
	}
}
