package repo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage/memory"
)

var (
	// ErrBranchNotFound means the remote has no branch of the configured name.
	ErrBranchNotFound = errors.New("repo: branch not found on remote")
	// ErrAuth means the remote refused the credentials (or wanted some).
	ErrAuth = errors.New("repo: authentication refused by remote")
)

// Outcome says what a sync did.
type Outcome string

const (
	// OutcomeUpdated: a new revision was published.
	OutcomeUpdated Outcome = "updated"
	// OutcomeUnchanged: the branch tip was already live.
	OutcomeUnchanged Outcome = "unchanged"
	// OutcomeFailed: nothing changed; the last good revision stays live.
	OutcomeFailed Outcome = "failed"
)

// AuthProvider yields credentials for one sync. It is asked on every sync so
// that short-lived tokens (GitHub App installation tokens) can be renewed.
type AuthProvider interface {
	AuthMethod(ctx context.Context) (transport.AuthMethod, error)
}

// Config configures a Syncer.
type Config struct {
	// URL is the remote: https://, ssh://, git@host:path, file:// or a local path.
	URL string
	// Branch is the branch whose tip is published.
	Branch string
	// DataDir holds the bare repository (DataDir/repo.git), the revisions
	// (DataDir/revisions/<sha>) and the sync lock.
	DataDir string
	// PipelinesDir is the symlink that points at the live revision.
	PipelinesDir string
	// Auth is nil for remotes that need no credentials.
	Auth AuthProvider
	// KeepRevisions is how many of the newest revisions garbage collection
	// keeps besides the live one and those runs still use. Default 3.
	KeepRevisions int
	// Timeout bounds one remote operation (list or fetch). Default 2m.
	Timeout time.Duration
	Logger  *slog.Logger
}

// Validate reports the first missing or inconsistent setting.
func (c *Config) Validate() error {
	switch {
	case c.URL == "":
		return errors.New("repo: GIT_REPO_URL is required")
	case c.Branch == "":
		return errors.New("repo: GIT_BRANCH is required")
	case c.DataDir == "":
		return errors.New("repo: DATA_DIR is required")
	case c.PipelinesDir == "":
		return errors.New("repo: PIPELINES_DIR is required")
	case c.KeepRevisions < 0:
		return errors.New("repo: KeepRevisions must not be negative")
	}
	return nil
}

// Result describes one sync attempt. Snapshot is the live snapshot after the
// attempt: the new one when Outcome is OutcomeUpdated, the unchanged one
// otherwise (nil if nothing was ever published).
type Result struct {
	Outcome    Outcome
	Snapshot   *Snapshot
	StartedAt  time.Time
	FinishedAt time.Time
	// Err is set when Outcome is OutcomeFailed.
	Err error
}

// Syncer publishes the tip of one branch of one remote. Its methods are safe
// for concurrent use; syncs are serialised (in-process by a mutex, across
// processes sharing DataDir by a file lock).
type Syncer struct {
	cfg      Config
	log      *slog.Logger
	revDir   string
	bareDir  string
	lockPath string

	mu   sync.Mutex // serialises Sync and GC; guards live
	live *Snapshot
}

// NewSyncer validates cfg and prepares DataDir. It does not contact the
// remote; call Load to pick up what is already published, then Sync.
func NewSyncer(cfg Config) (*Syncer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.KeepRevisions == 0 {
		cfg.KeepRevisions = 3
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	dataDir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("resolve DATA_DIR: %w", err)
	}
	pipelinesDir, err := filepath.Abs(cfg.PipelinesDir)
	if err != nil {
		return nil, fmt.Errorf("resolve PIPELINES_DIR: %w", err)
	}
	cfg.DataDir, cfg.PipelinesDir = dataDir, pipelinesDir
	s := &Syncer{
		cfg:      cfg,
		log:      cfg.Logger,
		revDir:   filepath.Join(dataDir, "revisions"),
		bareDir:  filepath.Join(dataDir, "repo.git"),
		lockPath: filepath.Join(dataDir, "sync.lock"),
	}
	for _, d := range []string{dataDir, s.revDir, filepath.Dir(pipelinesDir)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("create %s: %w", d, err)
		}
	}
	return s, nil
}

// RevisionsDir is the folder that holds one folder per published revision,
// named by its full SHA: what a container runtime mounts a run's code from.
func (s *Syncer) RevisionsDir() string { return s.revDir }

// Live returns the published snapshot, or nil before the first publish.
func (s *Syncer) Live() *Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.live
}

// Load adopts the revision PIPELINES_DIR already points at, so that after a
// restart the last good revision is live even while the remote is down. It
// returns nil, nil when nothing was published yet. Call it once at start.
//
// Load first tidies revisions/ (see tidy): what a killed sync or deletion
// left is removed, folders without a completion marker are verified and
// adopted or removed. If the published folder is not complete, or is gone,
// Load writes it anew from the bare repository, which holds every commit
// that was ever published; only when that fails does it return an error,
// and the caller's first sync publishes the branch tip instead.
func (s *Syncer) Load(ctx context.Context) (*Snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// Another process sharing DATA_DIR may be syncing: its temporary folder
	// must not be taken for a leftover.
	unlock, err := lockFile(s.lockPath)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := s.tidy(ctx); err != nil {
		// Not fatal: whatever is left is tidied by GC or never reused.
		s.log.Warn("could not tidy revisions", "err", err)
	}

	target, err := os.Readlink(s.cfg.PipelinesDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", s.cfg.PipelinesDir, err)
	}
	sha := filepath.Base(target)
	if filepath.Dir(target) != s.revDir || !plumbing.IsHash(sha) {
		return nil, fmt.Errorf("%s points at %s, not at a revision under %s", s.cfg.PipelinesDir, target, s.revDir)
	}
	commit, err := s.commit(sha)
	if err != nil {
		return nil, err
	}
	// PIPELINES_DIR already names this path, so a rewritten folder is live
	// again without a swap.
	dir, refused, err := s.ensureRevision(ctx, commit)
	if err != nil {
		return nil, err
	}
	snap, err := s.snapshot(ctx, commit, dir, refused)
	if err != nil {
		return nil, err
	}
	s.live = snap
	return snap, nil
}

// Revision returns the snapshot of a revision that is still on disk: the
// live one, or an older one a run still uses (runs re-attached after a
// restart keep the limits and timeout of the revision they started with).
// A folder that is there but not known complete is verified or written anew
// first, so a partial tree never supplies a run's pipeline.json.
func (s *Syncer) Revision(ctx context.Context, sha string) (*Snapshot, error) {
	s.mu.Lock()
	live := s.live
	s.mu.Unlock()
	if live != nil && live.Revision == sha {
		return live, nil
	}
	if !plumbing.IsHash(sha) {
		return nil, fmt.Errorf("revision %q is not a commit hash", sha)
	}
	commit, err := s.commit(sha)
	if errors.Is(err, plumbing.ErrObjectNotFound) {
		// Another replica admitted the run at a commit this one has not
		// fetched yet: fetch the branch, and write the commit's folder.
		if commit, err = s.fetchCommit(ctx, sha); err != nil {
			return nil, err
		}
		return s.repairRevision(ctx, commit)
	}
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(s.revDir, sha)
	c, err := readCompletion(dir, sha)
	if errors.Is(err, errIncomplete) {
		return s.repairRevision(ctx, commit)
	}
	if err != nil {
		return nil, fmt.Errorf("revision %s: %w", sha, err)
	}
	return s.snapshot(ctx, commit, dir, c.Problems)
}

// repairRevision makes a folder that is not known complete whole, under the
// locks a sync takes, and returns its snapshot.
func (s *Syncer) repairRevision(ctx context.Context, commit *object.Commit) (*Snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	unlock, err := lockFile(s.lockPath)
	if err != nil {
		return nil, err
	}
	defer unlock()
	dir, refused, err := s.ensureRevision(ctx, commit)
	if err != nil {
		return nil, err
	}
	return s.snapshot(ctx, commit, dir, refused)
}

// fetchCommit fetches the branch under the sync's locks and reads sha,
// which the fetch should have brought. It publishes nothing: the live
// revision moves only with a sync.
func (s *Syncer) fetchCommit(ctx context.Context, sha string) (*object.Commit, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	unlock, err := lockFile(s.lockPath)
	if err != nil {
		return nil, err
	}
	defer unlock()
	auth, err := s.auth(ctx)
	if err != nil {
		return nil, err
	}
	repo, err := s.openBare()
	if err != nil {
		return nil, err
	}
	if err := s.fetch(ctx, repo, auth); err != nil {
		return nil, fmt.Errorf("fetch for revision %s: %w", ShortSHA(sha), err)
	}
	return s.commit(sha)
}

// commit reads a fetched commit from the bare repository.
func (s *Syncer) commit(sha string) (*object.Commit, error) {
	repo, err := git.PlainOpen(s.bareDir)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", s.bareDir, err)
	}
	commit, err := repo.CommitObject(plumbing.NewHash(sha))
	if err != nil {
		return nil, fmt.Errorf("read commit %s: %w", sha, err)
	}
	return commit, nil
}

// Sync publishes the branch tip if it differs from the live revision. A
// failure of any kind (remote down, branch gone, credentials refused, disk
// full) leaves the live revision in place and is reported in the Result, and
// also returned as the error.
func (s *Syncer) Sync(ctx context.Context) (Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	res := Result{StartedAt: time.Now().UTC()}
	snap, updated, err := s.sync(ctx)
	res.FinishedAt = time.Now().UTC()
	switch {
	case err != nil:
		res.Outcome, res.Snapshot, res.Err = OutcomeFailed, s.live, err
		return res, err
	case updated:
		s.live = snap
		res.Outcome = OutcomeUpdated
	default:
		res.Outcome = OutcomeUnchanged
	}
	res.Snapshot = s.live
	return res, nil
}

func (s *Syncer) sync(ctx context.Context) (*Snapshot, bool, error) {
	unlock, err := lockFile(s.lockPath)
	if err != nil {
		return nil, false, err
	}
	defer unlock()

	auth, err := s.auth(ctx)
	if err != nil {
		return nil, false, err
	}
	// Listing refs is one round trip; it makes the common "nothing changed"
	// sync cheap and never touches the object store.
	tip, err := s.remoteTip(ctx, auth)
	if err != nil {
		return nil, false, err
	}
	if s.live != nil && s.live.Revision == tip.String() && s.pointsAt(s.live.Dir) {
		return s.live, false, nil
	}

	repo, err := s.openBare()
	if err != nil {
		return nil, false, err
	}
	if err := s.fetch(ctx, repo, auth); err != nil {
		return nil, false, err
	}
	ref, err := repo.Reference(s.trackingRef(), true)
	if err != nil {
		return nil, false, fmt.Errorf("resolve fetched %s: %w", s.cfg.Branch, err)
	}
	commit, err := repo.CommitObject(ref.Hash())
	if err != nil {
		return nil, false, fmt.Errorf("read commit %s: %w", ref.Hash(), err)
	}

	// A folder of this commit may exist already (a rollback, or a sync cut
	// short after writing it); it is reused only when known complete.
	dir, refused, err := s.ensureRevision(ctx, commit)
	if err != nil {
		return nil, false, err
	}
	snap, err := s.snapshot(ctx, commit, dir, refused)
	if err != nil {
		return nil, false, err
	}
	// The last point of no return: past the swap the new revision is live.
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	if err := swapSymlink(s.cfg.PipelinesDir, dir); err != nil {
		return nil, false, err
	}
	// Touch the revision so GC's "newest" ordering reflects publish order,
	// which matters when a force-push goes back to an older revision.
	now := time.Now()
	_ = os.Chtimes(dir, now, now)
	return snap, true, nil
}

// writeRevision materialises commit into a temporary directory, flushes it,
// writes the completion marker last and renames it into place, so
// revisions/<sha> either holds a complete tree with its marker or is absent.
// Refused entries come back as problems.
func (s *Syncer) writeRevision(ctx context.Context, commit *object.Commit, dir string) ([]Problem, error) {
	tmp, err := os.MkdirTemp(s.revDir, tmpPrefix+commit.Hash.String()[:12]+"-")
	if err != nil {
		return nil, fmt.Errorf("create temporary revision: %w", err)
	}
	// MkdirTemp made it; materialize wants to create it itself.
	if err := os.Remove(tmp); err != nil {
		return nil, fmt.Errorf("prepare temporary revision: %w", err)
	}
	refused, entries, err := materialize(ctx, commit, tmp)
	if err == nil {
		// The tree must be on disk before the marker says it is, or a power
		// cut could leave a marked folder with short files.
		err = syncFilesystem(tmp)
	}
	if err == nil {
		err = writeCompletion(tmp, commit.Hash.String(), entries, refused)
	}
	if err == nil {
		err = os.Rename(tmp, dir)
	}
	if err == nil {
		err = syncDir(s.revDir)
	}
	if err != nil {
		_ = os.RemoveAll(tmp)
		return nil, fmt.Errorf("write revision %s: %w", commit.Hash, err)
	}
	return refused, nil
}

// snapshot discovers the pipelines in dir and files the problems that
// materialize refused under the pipeline they belong to.
func (s *Syncer) snapshot(_ context.Context, commit *object.Commit, dir string, refused []Problem) (*Snapshot, error) {
	pipelines, err := Discover(dir)
	if err != nil {
		return nil, fmt.Errorf("discover pipelines in %s: %w", commit.Hash, err)
	}
	snap := &Snapshot{
		Revision:      commit.Hash.String(),
		Branch:        s.cfg.Branch,
		Dir:           dir,
		CommitMessage: strings.TrimSpace(commit.Message),
		CommitAuthor:  commit.Author.Name,
		CommittedAt:   commit.Committer.When.UTC(),
		Pipelines:     pipelines,
		Problems:      []Problem{},
	}
	byName := make(map[string]int, len(pipelines))
	for i, p := range pipelines {
		byName[p.Name] = i
	}
	for _, p := range refused {
		top, _, _ := strings.Cut(p.Path, "/")
		if i, ok := byName[top]; ok {
			snap.Pipelines[i].Problems = append(snap.Pipelines[i].Problems, p)
			continue
		}
		snap.Problems = append(snap.Problems, p)
	}
	return snap, nil
}

func (s *Syncer) auth(ctx context.Context) (transport.AuthMethod, error) {
	if s.cfg.Auth == nil {
		return nil, nil
	}
	a, err := s.cfg.Auth.AuthMethod(ctx)
	if err != nil {
		return nil, fmt.Errorf("credentials for %s: %w", s.cfg.URL, err)
	}
	return a, nil
}

func (s *Syncer) trackingRef() plumbing.ReferenceName {
	return plumbing.NewRemoteReferenceName("origin", s.cfg.Branch)
}

// remoteTip lists the remote's refs and returns the branch tip.
func (s *Syncer) remoteTip(ctx context.Context, auth transport.AuthMethod) (plumbing.Hash, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	remote := git.NewRemote(memory.NewStorage(), &config.RemoteConfig{Name: "origin", URLs: []string{s.cfg.URL}})
	refs, err := remote.ListContext(ctx, &git.ListOptions{Auth: auth})
	if err != nil {
		return plumbing.ZeroHash, s.remoteError("list refs of", err)
	}
	want := plumbing.NewBranchReferenceName(s.cfg.Branch)
	for _, r := range refs {
		if r.Name() == want {
			return r.Hash(), nil
		}
	}
	return plumbing.ZeroHash, fmt.Errorf("%w: %q on %s", ErrBranchNotFound, s.cfg.Branch, redactURL(s.cfg.URL))
}

// openBare opens DataDir/repo.git, creating it on first use. Its origin is
// rewritten when GIT_REPO_URL changed between starts.
func (s *Syncer) openBare() (*git.Repository, error) {
	repo, err := git.PlainOpen(s.bareDir)
	if errors.Is(err, git.ErrRepositoryNotExists) {
		repo, err = git.PlainInit(s.bareDir, true)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", s.bareDir, err)
	}
	remote, err := repo.Remote("origin")
	if err == nil && len(remote.Config().URLs) == 1 && remote.Config().URLs[0] == s.cfg.URL {
		return repo, nil
	}
	if err == nil {
		if err := repo.DeleteRemote("origin"); err != nil {
			return nil, fmt.Errorf("reset origin: %w", err)
		}
	}
	if _, err := repo.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{s.cfg.URL}}); err != nil {
		return nil, fmt.Errorf("configure origin: %w", err)
	}
	return repo, nil
}

// fetch brings the branch tip into the bare repository. The refspec is
// forced, so a force-push is followed like any other move of the tip.
func (s *Syncer) fetch(ctx context.Context, repo *git.Repository, auth transport.AuthMethod) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	spec := config.RefSpec(fmt.Sprintf("+%s:%s", plumbing.NewBranchReferenceName(s.cfg.Branch), s.trackingRef()))
	err := repo.FetchContext(ctx, &git.FetchOptions{
		RemoteName: "origin",
		RefSpecs:   []config.RefSpec{spec},
		Auth:       auth,
		Tags:       git.NoTags,
		Force:      true,
	})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return s.remoteError("fetch", err)
	}
	return nil
}

func (s *Syncer) remoteError(op string, err error) error {
	url := redactURL(s.cfg.URL)
	if errors.Is(err, transport.ErrAuthenticationRequired) || errors.Is(err, transport.ErrAuthorizationFailed) {
		return fmt.Errorf("%s %s: %w: %w", op, url, ErrAuth, err)
	}
	if errors.Is(err, exec.ErrNotFound) {
		// go-git reads a local path or file:// through git-upload-pack;
		// Fast-Flow's image has no git, by design.
		return fmt.Errorf("%s %s: a local repository is read with the git binary, which is not installed here (the container image has none): install git, or use an https:// or ssh:// URL: %w", op, url, err)
	}
	return fmt.Errorf("%s %s: %w", op, url, err)
}

// pointsAt reports whether PIPELINES_DIR currently links to dir and dir exists.
func (s *Syncer) pointsAt(dir string) bool {
	target, err := os.Readlink(s.cfg.PipelinesDir)
	if err != nil || target != dir {
		return false
	}
	_, err = os.Stat(dir)
	return err == nil
}

// swapSymlink points link at target atomically: a new symlink is created
// beside it and renamed over it, so every reader sees either the old or the
// new target. rename(2) replaces a symlink but refuses a real directory,
// which protects a PIPELINES_DIR a user filled by hand.
func swapSymlink(link, target string) error {
	if fi, err := os.Lstat(link); err == nil && fi.Mode()&os.ModeSymlink == 0 {
		return fmt.Errorf("%w: %s", errNotSymlink, link)
	}
	tmp := fmt.Sprintf("%s.tmp-%d", link, os.Getpid())
	_ = os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		return fmt.Errorf("create symlink: %w", err)
	}
	if err := os.Rename(tmp, link); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("swap %s: %w", link, err)
	}
	return nil
}

// lockFile takes an exclusive flock on path, shared by every process that
// uses the same DATA_DIR. The returned func releases it.
func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open sync lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("take sync lock: %w", err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// redactURL drops userinfo so a token in GIT_REPO_URL never reaches a log
// line, an error message or the database.
func redactURL(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return raw
	}
	host := rest
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		host = rest[:i]
	}
	if at := strings.LastIndexByte(host, '@'); at >= 0 {
		rest = "***@" + rest[at+1:]
	}
	return scheme + "://" + rest
}
