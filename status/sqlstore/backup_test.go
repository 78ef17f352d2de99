package sqlstore_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fastflow-dev/fastflow/status"
	"github.com/fastflow-dev/fastflow/status/sqlstore"
)

// finalStatuses are what the writers of TestBackupWhileRunsFinish end their
// runs with, in turn.
var finalStatuses = []status.RunStatus{status.RunSuccess, status.RunFailed, status.RunTimeout,
	status.RunCancelled, status.RunInterrupted}

// Phases of TestBackupWhileRunsFinish, as the writers see them. While
// backup attempt k runs, the phase is duringBackup+k.
const (
	beforeBackup  int32 = 0
	betweenBackup int32 = 1 // an attempt returned, the next is to come
	afterBackup   int32 = 2 // the last attempt returned
	duringBackup  int32 = 10
)

// backupWriters creates and finishes runs through the store, as an
// operator does, until stop is closed, and sorts each run by the phase
// the backup was in. A run counts as finished before the backup when the
// phase was still beforeBackup after FinishRun returned: its commit
// happened before the phase changed, so before Backup was called. It
// counts as finished during attempt k when the phase was duringBackup+k
// both before CreateRun and after FinishRun: its commit happened while
// Backup ran. It counts as created after the backup when the phase was
// afterBackup before CreateRun was called.
type backupWriters struct {
	s     *sqlstore.Store
	phase atomic.Int32

	mu        sync.Mutex
	before    map[string]status.RunStatus // finished before the backup began
	during    map[int32]int               // by phase: finished while Backup ran
	after     []string                    // created after Backup returned
	errs      []error
	warm      chan struct{} // closed once enough runs finished before the backup
	warmOnce  sync.Once
	warmAfter int
}

func (w *backupWriters) run(ctx context.Context, id int, stop <-chan struct{}) {
	for n := 0; ; n++ {
		select {
		case <-stop:
			return
		default:
		}
		created := w.phase.Load()
		st := finalStatuses[(id+n)%len(finalStatuses)]
		r, err := w.s.CreateRun(ctx, status.Run{
			Pipeline:  fmt.Sprintf("writer-%d", id),
			Status:    status.RunRunning,
			Trigger:   status.TriggerSchedule,
			StartedAt: time.Now(),
			Message:   "started by a writer",
		})
		if err != nil {
			w.fail(fmt.Errorf("writer %d: %w", id, err))
			return
		}
		code := n % 3
		r.Status, r.ExitCode, r.FinishedAt = st, &code, time.Now()
		r.Message = fmt.Sprintf("run %d of writer %d ended %s", n, id, st)
		if st == status.RunFailed {
			r.ErrorType = status.ErrorExitCode
		}
		ok, err := w.s.FinishRun(ctx, r, status.RunRunning)
		if err != nil || !ok {
			w.fail(fmt.Errorf("writer %d: FinishRun %s = %v, %v", id, r.ID, ok, err))
			return
		}
		finished := w.phase.Load()
		w.mu.Lock()
		switch {
		case finished == beforeBackup:
			w.before[r.ID] = st
			if len(w.before) >= w.warmAfter {
				w.warmOnce.Do(func() { close(w.warm) })
			}
		case finished >= duringBackup && created == finished:
			w.during[finished]++
		}
		if created == afterBackup {
			w.after = append(w.after, r.ID)
		}
		w.mu.Unlock()
	}
}

func (w *backupWriters) fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.errs = append(w.errs, err)
	w.warmOnce.Do(func() { close(w.warm) })
}

// TestBackupWhileRunsFinish: writers create and finish runs through the
// store while Backup runs. Backup never fails a writer; the copy passes
// the integrity check; restored into a new data directory and migrated,
// it holds every run finished before the backup began with its status, no
// run created after it returned, and pipeline counters that agree with its
// runs (FinishRun changes both in one transaction, so a torn snapshot
// would show).
func TestBackupWhileRunsFinish(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dataDir := t.TempDir()
	s := migrated(openSQLite(t, sqlstore.Config{DataDir: dataDir}), t)

	// A history of some megabytes, so that a backup takes long enough for
	// runs to finish while it copies.
	const history = 800
	long := strings.Repeat("Traceback (most recent call last): a long error message. ", 150)
	for i := range history {
		code := 1
		if _, err := s.CreateRun(ctx, status.Run{
			Pipeline: fmt.Sprintf("history-%d", i%7), Status: status.RunFailed, ErrorType: status.ErrorExitCode,
			ExitCode: &code, Message: long, Parameters: map[string]string{"DAY": fmt.Sprint(i)},
			QueuedAt: time.Date(2025, 1, 1, 0, 0, i, 0, time.UTC), FinishedAt: time.Date(2025, 1, 1, 0, 1, i, 0, time.UTC),
		}); err != nil {
			t.Fatal(err)
		}
	}

	w := &backupWriters{s: s, before: map[string]status.RunStatus{}, during: map[int32]int{},
		warm: make(chan struct{}), warmAfter: 40}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	const writers = 4
	for id := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.run(ctx, id, stop)
		}()
	}
	stopped := false
	stopWriters := func() {
		if !stopped {
			stopped = true
			close(stop)
			wg.Wait()
		}
	}
	t.Cleanup(stopWriters)
	<-w.warm

	// Backups are repeated, each into a new file, until runs finished
	// during one: how long a backup takes is up to the machine, and every
	// copy must hold up however many writes it overlapped.
	backups := t.TempDir()
	var (
		file   string
		during int
	)
	for attempt := int32(1); attempt <= 5 && during == 0; attempt++ {
		file = filepath.Join(backups, fmt.Sprintf("backup-%d.db", attempt))
		w.phase.Store(duringBackup + attempt)
		res, err := sqlstore.Backup(ctx, dataDir, file)
		w.phase.Store(betweenBackup)
		if err != nil {
			t.Fatalf("Backup #%d: %v", attempt, err)
		}
		w.mu.Lock()
		during = w.during[duringBackup+attempt]
		w.mu.Unlock()
		t.Logf("backup #%d: %.1f MB in %v, %d runs finished during it", attempt, float64(res.Bytes)/1e6, res.Duration, during)
		if res.Path != file || res.Bytes <= 0 {
			t.Errorf("Backup = %+v, want path %s and a size", res, file)
		}
	}
	w.phase.Store(afterBackup)
	if during == 0 {
		t.Errorf("no run finished during any of 5 backups: the writers were blocked, or the machine is too fast for %d MB", history*len(long)/1e6)
	}
	// The writers go on after the backup too, then stop.
	deadline := time.Now().Add(time.Minute)
	for {
		w.mu.Lock()
		n, errs := len(w.after), len(w.errs)
		w.mu.Unlock()
		if n >= 2*writers || errs > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	stopWriters()
	if err := errors.Join(w.errs...); err != nil {
		t.Fatalf("a writer failed beside the backup: %v", err)
	}
	if len(w.after) == 0 {
		t.Fatal("no run was created after the backup")
	}

	if err := sqlstore.IntegrityCheck(ctx, file); err != nil {
		t.Fatalf("IntegrityCheck of the backup: %v", err)
	}
	if got := dirNames(t, filepath.Dir(file)); slices.ContainsFunc(got, func(n string) bool {
		return strings.Contains(n, ".partial") || strings.HasSuffix(n, "-wal") || strings.HasSuffix(n, "-shm")
	}) {
		t.Errorf("backup directory holds %q; want the backups alone", got)
	}

	restored := filepath.Join(t.TempDir(), "restored")
	if err := sqlstore.Restore(ctx, file, restored); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if got := dirNames(t, restored); !slices.Equal(got, []string{sqlstore.FileName}) {
		t.Errorf("restored data directory holds %q, want only %s", got, sqlstore.FileName)
	}
	r := migrated(openSQLite(t, sqlstore.Config{DataDir: restored}), t)

	missing := 0
	for id, want := range w.before {
		got, err := r.GetRun(ctx, id)
		if err != nil {
			missing++
			if missing <= 5 {
				t.Errorf("run %s finished %s before the backup began: %v", id, want, err)
			}
			continue
		}
		if got.Status != want || got.FinishedAt.IsZero() || got.ExitCode == nil {
			t.Errorf("restored run %s = %s finished %v exit %v, want %s with its finish", id, got.Status, got.FinishedAt, got.ExitCode, want)
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d runs finished before the backup are missing from it", missing, len(w.before))
	}
	for _, id := range w.after {
		if _, err := r.GetRun(ctx, id); !errors.Is(err, status.ErrNotFound) {
			t.Errorf("run %s created after the backup returned is in it (err %v)", id, err)
		}
	}

	// Counters and runs come from one snapshot.
	runs := allRuns(t, r)
	if len(runs) < history+len(w.before) {
		t.Errorf("restored store holds %d runs, want at least %d", len(runs), history+len(w.before))
	}
	counted := map[string]status.Pipeline{}
	for _, run := range runs {
		if !strings.HasPrefix(run.Pipeline, "writer-") || !run.Status.Final() {
			continue
		}
		p := counted[run.Pipeline]
		p.Name = run.Pipeline
		switch run.Status {
		case status.RunSuccess:
			p.TotalRuns++
			p.SuccessfulRuns++
		case status.RunFailed, status.RunTimeout:
			p.TotalRuns++
			p.FailedRuns++
		case status.RunCancelled:
			p.CancelledRuns++
		case status.RunInterrupted:
			p.InterruptedRuns++
		}
		counted[run.Pipeline] = p
	}
	for name, want := range counted {
		got, err := r.GetPipelineStats(ctx, name)
		if err != nil {
			t.Errorf("GetPipelineStats(%s): %v", name, err)
			continue
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("restored counters of %s disagree with its restored runs (-runs +counters):\n%s", name, d)
		}
	}
}

// allRuns pages through every run of s.
func allRuns(t *testing.T, s *sqlstore.Store) []status.Run {
	t.Helper()
	var out []status.Run
	f := status.RunFilter{Limit: 1000, Order: status.OrderAsc}
	for {
		page, err := s.ListRuns(t.Context(), f)
		if err != nil {
			t.Fatalf("ListRuns: %v", err)
		}
		out = append(out, page.Runs...)
		if page.NextCursor == "" {
			return out
		}
		f.Cursor = page.NextCursor
	}
}

// dirNames lists a directory's entries, sorted; a missing directory has
// none.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// backupOf makes a small migrated store with one run and returns its data
// directory and a backup of it.
func backupOf(t *testing.T) (dataDir, file string) {
	t.Helper()
	dataDir = t.TempDir()
	s := migrated(openSQLite(t, sqlstore.Config{DataDir: dataDir}), t)
	if _, err := s.CreateRun(t.Context(), status.Run{ID: "only", Pipeline: "p"}); err != nil {
		t.Fatal(err)
	}
	file = filepath.Join(t.TempDir(), "backup.db")
	if _, err := sqlstore.Backup(t.Context(), dataDir, file); err != nil {
		t.Fatalf("Backup: %v", err)
	}
	return dataDir, file
}

// TestBackupRefuses: a backup never overwrites a file, and says so when
// there is no SQLite database to back up.
func TestBackupRefuses(t *testing.T) {
	t.Parallel()
	dataDir, _ := backupOf(t)
	tests := []struct {
		name    string
		dataDir string
		setup   func(t *testing.T, dst string) // makes what is at dst
		wantErr error                          // nil: any error
		wantMsg string
	}{
		{
			name: "dst exists", dataDir: dataDir,
			setup: func(t *testing.T, dst string) {
				if err := os.WriteFile(dst, []byte("an earlier backup"), 0o600); err != nil {
					t.Fatal(err)
				}
			},
			wantMsg: "already exists",
		},
		{
			name: "dst is a symlink to a missing file", dataDir: dataDir,
			setup: func(t *testing.T, dst string) {
				if err := os.Symlink(filepath.Join(filepath.Dir(dst), "elsewhere"), dst); err != nil {
					t.Fatal(err)
				}
			},
			wantMsg: "already exists",
		},
		{name: "no database", dataDir: t.TempDir(), wantErr: sqlstore.ErrNoDatabase, wantMsg: "pg_dump"},
		{name: "no data directory", dataDir: filepath.Join(t.TempDir(), "missing"), wantErr: sqlstore.ErrNoDatabase},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			dst := filepath.Join(dir, "backup.db")
			if tt.setup != nil {
				tt.setup(t, dst)
			}
			before := dirState(t, dir)
			_, err := sqlstore.Backup(t.Context(), tt.dataDir, dst)
			if err == nil {
				t.Fatal("Backup succeeded, want an error")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("Backup = %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("Backup = %v, want it to say %q", err, tt.wantMsg)
			}
			if d := cmp.Diff(before, dirState(t, dir)); d != "" {
				t.Errorf("Backup changed the target directory (-before +after):\n%s", d)
			}
		})
	}
}

// otherSQLite writes an intact SQLite database that is not Fast-Flow's.
func otherSQLite(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "other.db")
	db, err := sql.Open("sqlite", p)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('not ours')"); err != nil {
		t.Fatal(err)
	}
	return p
}

// dirState is every entry of dir with its content (or link target), for
// proving a refused call changed nothing.
func dirState(t *testing.T, dir string) map[string]string {
	t.Helper()
	state := map[string]string{}
	for _, name := range dirNames(t, dir) {
		p := filepath.Join(dir, name)
		if target, err := os.Readlink(p); err == nil {
			state[name] = "-> " + target
			continue
		}
		info, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if info.IsDir() {
			state[name] = "a directory"
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		state[name] = string(b)
	}
	return state
}

// TestRestoreRefuses: a restore never lands in a data directory that holds
// anything, and a backup that is not an intact SQLite database is refused
// before anything is written.
func TestRestoreRefuses(t *testing.T) {
	t.Parallel()
	_, good := backupOf(t)
	backup, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	const page = 4096
	if len(backup) < 3*page {
		t.Fatalf("the backup is %d bytes, too small to truncate meaningfully", len(backup))
	}
	writeBackup := func(content []byte) func(t *testing.T) string {
		return func(t *testing.T) string {
			p := filepath.Join(t.TempDir(), "backup.db")
			if err := os.WriteFile(p, content, 0o600); err != nil {
				t.Fatal(err)
			}
			return p
		}
	}
	damaged := slices.Clone(backup)
	for i := page + 100; i < 2*page; i++ {
		damaged[i] = 0xA5
	}
	tests := []struct {
		name    string
		backup  func(t *testing.T) string
		dataDir func(t *testing.T) string // the DATA_DIR, perhaps with something in it
		wantErr error                     // nil: any error
	}{
		{name: "non-empty data dir", backup: writeBackup(backup), wantErr: sqlstore.ErrNotEmpty,
			dataDir: func(t *testing.T) string {
				d := t.TempDir()
				if err := os.WriteFile(filepath.Join(d, "notes.txt"), []byte("mine"), 0o600); err != nil {
					t.Fatal(err)
				}
				return d
			}},
		{name: "data dir with a database", backup: writeBackup(backup), wantErr: sqlstore.ErrNotEmpty,
			dataDir: func(t *testing.T) string {
				d := t.TempDir()
				if err := os.WriteFile(filepath.Join(d, sqlstore.FileName), []byte("the live database"), 0o600); err != nil {
					t.Fatal(err)
				}
				return d
			}},
		{name: "data dir with an empty folder", backup: writeBackup(backup), wantErr: sqlstore.ErrNotEmpty,
			dataDir: func(t *testing.T) string {
				d := t.TempDir()
				if err := os.Mkdir(filepath.Join(d, "revisions"), 0o700); err != nil {
					t.Fatal(err)
				}
				return d
			}},
		{name: "not SQLite", backup: writeBackup([]byte("-- pg_dump output, or a tarball\n" + strings.Repeat("x", 5000))), wantErr: sqlstore.ErrCorrupt},
		{name: "empty file", backup: writeBackup(nil), wantErr: sqlstore.ErrCorrupt},
		{name: "truncated in the header", backup: writeBackup(backup[:50]), wantErr: sqlstore.ErrCorrupt},
		{name: "truncated to one page", backup: writeBackup(backup[:page]), wantErr: sqlstore.ErrCorrupt},
		{name: "truncated by half", backup: writeBackup(backup[:len(backup)/2]), wantErr: sqlstore.ErrCorrupt},
		{name: "truncated in the last page", backup: writeBackup(backup[:len(backup)-100]), wantErr: sqlstore.ErrCorrupt},
		{name: "a damaged page", backup: writeBackup(damaged), wantErr: sqlstore.ErrCorrupt},
		{name: "another program's SQLite database", backup: otherSQLite, wantErr: sqlstore.ErrNotFastFlow},
		{name: "missing backup", backup: func(t *testing.T) string { return filepath.Join(t.TempDir(), "nope.db") }},
		{name: "backup is a directory", backup: func(t *testing.T) string { return t.TempDir() }},
	}
	for _, tt := range tests {
		for _, dirKind := range []string{"missing", "empty"} {
			if tt.dataDir != nil && dirKind == "missing" {
				continue
			}
			t.Run(tt.name+"/"+dirKind, func(t *testing.T) {
				t.Parallel()
				var dataDir string
				switch {
				case tt.dataDir != nil:
					dataDir = tt.dataDir(t)
				case dirKind == "missing":
					dataDir = filepath.Join(t.TempDir(), "data")
				default:
					dataDir = t.TempDir()
				}
				before := dirState(t, dataDir)
				src := tt.backup(t)
				err := sqlstore.Restore(t.Context(), src, dataDir)
				if err == nil {
					t.Fatal("Restore succeeded, want an error")
				}
				if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
					t.Errorf("Restore = %v, want %v", err, tt.wantErr)
				}
				if d := cmp.Diff(before, dirState(t, dataDir)); d != "" {
					t.Errorf("a refused Restore changed the data directory (-before +after):\n%s", d)
				}
				if _, err := os.Stat(dataDir); dirKind == "missing" && !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("a refused Restore created the missing data directory (stat: %v)", err)
				}
			})
		}
	}

	// The good backup restores, so the refusals above are about the
	// damage and not about the copy.
	dataDir := filepath.Join(t.TempDir(), "data")
	if err := sqlstore.Restore(t.Context(), good, dataDir); err != nil {
		t.Fatalf("Restore of the intact backup: %v", err)
	}
	r := migrated(openSQLite(t, sqlstore.Config{DataDir: dataDir}), t)
	if _, err := r.GetRun(t.Context(), "only"); err != nil {
		t.Errorf("restored store lacks the run: %v", err)
	}
}

// TestBackupFileMode: the backup holds password hashes and encrypted
// secrets, so only its owner may read it, whatever the umask; and it is a
// plain rollback-journal database, so reading it creates no -wal or -shm
// beside it.
func TestBackupFileMode(t *testing.T) {
	t.Parallel()
	_, file := backupOf(t)
	info, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode(); got != 0o600 {
		t.Errorf("backup mode = %v, want -rw-------", got)
	}
	if err := sqlstore.IntegrityCheck(t.Context(), file); err != nil {
		t.Fatal(err)
	}
	if got := dirNames(t, filepath.Dir(file)); !slices.Equal(got, []string{"backup.db"}) {
		t.Errorf("after an integrity check the backup's directory holds %q, want backup.db alone", got)
	}
	restored := filepath.Join(t.TempDir(), "data")
	if err := sqlstore.Restore(t.Context(), file, restored); err != nil {
		t.Fatal(err)
	}
	info, err = os.Stat(filepath.Join(restored, sqlstore.FileName))
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode(); got != 0o600 {
		t.Errorf("restored database mode = %v, want -rw-------", got)
	}
}
