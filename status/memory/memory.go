package memory

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fastflow-dev/fastflow/status"
)

// Store is an in-memory status.Store. One mutex guards everything: the
// fake favours obvious correctness over throughput.
type Store struct {
	mu         sync.Mutex
	now        func() time.Time
	syncs      []status.SyncEvent
	runs       map[string]status.Run
	pipelines  map[string]status.Pipeline
	schedules  map[[2]string]status.ScheduleState
	fires      map[string]status.Fire
	secrets    map[string]status.Secret
	users      map[int64]status.User
	sessions   map[string]status.Session
	tokens     map[int64]status.APIToken
	deliveries map[string]status.Delivery
	nextID     int64
}

var _ status.Store = (*Store)(nil)

// New returns an empty store.
func New() *Store {
	return &Store{
		now:        func() time.Time { return time.Now().UTC() },
		runs:       map[string]status.Run{},
		pipelines:  map[string]status.Pipeline{},
		schedules:  map[[2]string]status.ScheduleState{},
		fires:      map[string]status.Fire{},
		secrets:    map[string]status.Secret{},
		users:      map[int64]status.User{},
		sessions:   map[string]status.Session{},
		tokens:     map[int64]status.APIToken{},
		deliveries: map[string]status.Delivery{},
	}
}

func norm(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}

func (s *Store) id() int64 {
	s.nextID++
	return s.nextID
}

// Ping implements status.Store.
func (s *Store) Ping(context.Context) error { return nil }

// Close implements status.Store.
func (s *Store) Close() error { return nil }

// RecordSync implements status.SyncStore.
func (s *Store) RecordSync(_ context.Context, ev status.SyncEvent) (int64, error) {
	if ev.StartedAt.IsZero() || ev.Outcome == "" {
		return 0, fmt.Errorf("record sync: %w: zero StartedAt or empty Outcome", status.ErrInvalidArgument)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ev.ID = s.id()
	ev.StartedAt, ev.FinishedAt = norm(ev.StartedAt), norm(ev.FinishedAt)
	s.syncs = append(s.syncs, ev)
	return ev.ID, nil
}

func (s *Store) sortedSyncs() []status.SyncEvent {
	out := slices.Clone(s.syncs)
	slices.SortFunc(out, func(a, b status.SyncEvent) int {
		return cmp.Or(b.StartedAt.Compare(a.StartedAt), cmp.Compare(b.ID, a.ID))
	})
	return out
}

// LastSync implements status.SyncStore.
func (s *Store) LastSync(context.Context) (status.SyncEvent, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.syncs) == 0 {
		return status.SyncEvent{}, fmt.Errorf("last sync: %w", status.ErrNotFound)
	}
	return s.sortedSyncs()[0], nil
}

// ListSyncs implements status.SyncStore.
func (s *Store) ListSyncs(_ context.Context, limit int) ([]status.SyncEvent, error) {
	if limit <= 0 {
		limit = 50
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.sortedSyncs()
	return out[:min(limit, len(out))], nil
}

func copyRun(r status.Run) status.Run {
	r.QueuedAt, r.StartedAt, r.FinishedAt = norm(r.QueuedAt), norm(r.StartedAt), norm(r.FinishedAt)
	r.SetupDuration = r.SetupDuration.Truncate(time.Microsecond)
	if len(r.Parameters) == 0 {
		r.Parameters = nil
	} else {
		r.Parameters = maps.Clone(r.Parameters)
	}
	if len(r.EnvNames) == 0 {
		r.EnvNames = nil
	} else {
		r.EnvNames = slices.Clone(r.EnvNames)
	}
	if r.ExitCode != nil {
		c := *r.ExitCode
		r.ExitCode = &c
	}
	return r
}

func checkRun(r status.Run) error {
	if r.ID == "" {
		return fmt.Errorf("%w: run without id", status.ErrInvalidArgument)
	}
	if !r.Status.Valid() {
		return fmt.Errorf("%w: run status %q", status.ErrInvalidArgument, r.Status)
	}
	return nil
}

// CreateRun implements status.RunStore.
func (s *Store) CreateRun(_ context.Context, r status.Run) (status.Run, error) {
	if r.Pipeline == "" {
		return status.Run{}, fmt.Errorf("create run: %w: empty pipeline", status.ErrInvalidArgument)
	}
	if r.ID == "" {
		id, err := status.NewRunID()
		if err != nil {
			return status.Run{}, err
		}
		r.ID = id
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.QueuedAt.IsZero() {
		r.QueuedAt = s.now()
	}
	if r.Status == "" {
		r.Status = status.RunPending
	}
	if r.Attempt == 0 {
		r.Attempt = 1
	}
	r = copyRun(r)
	if err := checkRun(r); err != nil {
		return status.Run{}, fmt.Errorf("create run: %w", err)
	}
	if _, ok := s.runs[r.ID]; ok {
		return status.Run{}, fmt.Errorf("create run %s: %w", r.ID, status.ErrConflict)
	}
	if _, ok := s.runs[r.RetryOf]; r.RetryOf != "" && !ok {
		return status.Run{}, fmt.Errorf("create run %s: retry of %s: %w", r.ID, r.RetryOf, status.ErrNotFound)
	}
	s.runs[r.ID] = r
	return copyRun(r), nil
}

// GetRun implements status.RunStore.
func (s *Store) GetRun(_ context.Context, id string) (status.Run, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.runs[id]
	if !ok {
		return status.Run{}, fmt.Errorf("get run %s: %w", id, status.ErrNotFound)
	}
	return copyRun(r), nil
}

// apply writes the mutable fields of r over the stored run.
func (s *Store) apply(r status.Run) {
	old := s.runs[r.ID]
	r = copyRun(r)
	r.Pipeline, r.Trigger, r.TriggeredBy, r.Attempt = old.Pipeline, old.Trigger, old.TriggeredBy, old.Attempt
	r.RetryOf, r.Parameters, r.QueuedAt = old.RetryOf, old.Parameters, old.QueuedAt
	s.runs[r.ID] = r
}

// UpdateRun implements status.RunStore.
func (s *Store) UpdateRun(_ context.Context, r status.Run) error {
	if err := checkRun(r); err != nil {
		return fmt.Errorf("update run: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.runs[r.ID]; !ok {
		return fmt.Errorf("update run %s: %w", r.ID, status.ErrNotFound)
	}
	s.apply(r)
	return nil
}

// TransitionRun implements status.RunStore.
func (s *Store) TransitionRun(_ context.Context, r status.Run, from ...status.RunStatus) (bool, error) {
	if err := checkRun(r); err != nil {
		return false, fmt.Errorf("transition run: %w", err)
	}
	if len(from) == 0 {
		return false, fmt.Errorf("transition run %s: %w: no source status", r.ID, status.ErrInvalidArgument)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.runs[r.ID]
	if !ok {
		return false, fmt.Errorf("transition run %s: %w", r.ID, status.ErrNotFound)
	}
	if !slices.Contains(from, old.Status) {
		return false, nil
	}
	s.apply(r)
	return true, nil
}

func compareRuns(a, b status.Run) int {
	return cmp.Or(a.QueuedAt.Compare(b.QueuedAt), strings.Compare(a.ID, b.ID))
}

// ListRuns implements status.RunStore.
func (s *Store) ListRuns(_ context.Context, f status.RunFilter) (status.RunPage, error) {
	limit := f.Limit
	switch {
	case limit <= 0:
		limit = 50
	case limit > 1000:
		limit = 1000
	}
	desc := true
	switch f.Order {
	case "", status.OrderDesc:
	case status.OrderAsc:
		desc = false
	default:
		return status.RunPage{}, fmt.Errorf("list runs: %w: order %q", status.ErrInvalidArgument, f.Order)
	}
	var cur *status.Run
	if f.Cursor != "" {
		c, err := status.DecodeRunCursor(f.Cursor)
		if err != nil {
			return status.RunPage{}, fmt.Errorf("list runs: %w", err)
		}
		cur = &status.Run{QueuedAt: c.QueuedAt, ID: c.ID}
	}
	since, until := norm(f.Since), norm(f.Until)

	s.mu.Lock()
	var out []status.Run
	for _, r := range s.runs {
		switch {
		case f.Pipeline != "" && r.Pipeline != f.Pipeline,
			len(f.Statuses) > 0 && !slices.Contains(f.Statuses, r.Status),
			len(f.Triggers) > 0 && !slices.Contains(f.Triggers, r.Trigger),
			f.RetryOf != "" && r.RetryOf != f.RetryOf,
			!since.IsZero() && r.QueuedAt.Before(since),
			!until.IsZero() && !r.QueuedAt.Before(until),
			cur != nil && desc && compareRuns(r, *cur) >= 0,
			cur != nil && !desc && compareRuns(r, *cur) <= 0:
			continue
		}
		out = append(out, copyRun(r))
	}
	s.mu.Unlock()

	slices.SortFunc(out, compareRuns)
	if desc {
		slices.Reverse(out)
	}
	var page status.RunPage
	if len(out) > limit {
		out = out[:limit]
		last := out[limit-1]
		page.NextCursor = status.RunCursor{QueuedAt: last.QueuedAt, ID: last.ID}.Encode()
	}
	page.Runs = out
	return page, nil
}

// ActiveRevisions implements status.RunStore.
func (s *Store) ActiveRevisions(context.Context) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var revs []string
	for _, r := range s.runs {
		if (r.Status == status.RunPending || r.Status == status.RunRunning) && r.Revision != "" {
			revs = append(revs, r.Revision)
		}
	}
	slices.Sort(revs)
	return slices.Compact(revs), nil
}

// DeleteRunsBefore implements status.RunStore.
func (s *Store) DeleteRunsBefore(_ context.Context, t time.Time) (int64, error) {
	t = norm(t)
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for id, r := range s.runs {
		if r.QueuedAt.Before(t) && r.Status.Final() {
			delete(s.runs, id)
			n++
		}
	}
	for id, r := range s.runs {
		if _, ok := s.runs[r.RetryOf]; r.RetryOf != "" && !ok {
			r.RetryOf = ""
			s.runs[id] = r
		}
	}
	return n, nil
}

// UpsertPipeline implements status.PipelineStore.
func (s *Store) UpsertPipeline(_ context.Context, p status.Pipeline) error {
	if p.Name == "" {
		return fmt.Errorf("upsert pipeline: %w: empty name", status.ErrInvalidArgument)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.pipelines[p.Name]
	old.Name, old.HasRequirements, old.RequirementsHash = p.Name, p.HasRequirements, p.RequirementsHash
	old.LastCacheWarmup, old.CacheStatus, old.CacheOutput = norm(p.LastCacheWarmup), p.CacheStatus, p.CacheOutput
	s.pipelines[p.Name] = old
	return nil
}

// GetPipelineStats implements status.PipelineStore.
func (s *Store) GetPipelineStats(_ context.Context, name string) (status.Pipeline, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.pipelines[name]
	if !ok {
		return status.Pipeline{}, fmt.Errorf("get pipeline %s: %w", name, status.ErrNotFound)
	}
	return p, nil
}

// ListPipelines implements status.PipelineStore.
func (s *Store) ListPipelines(context.Context) ([]status.Pipeline, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Collect(maps.Values(s.pipelines))
	slices.SortFunc(out, func(a, b status.Pipeline) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// IncrementCounters implements status.PipelineStore.
func (s *Store) IncrementCounters(_ context.Context, name string, success bool) error {
	if name == "" {
		return fmt.Errorf("increment counters: %w: empty name", status.ErrInvalidArgument)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pipelines[name]
	p.Name = name
	p.TotalRuns++
	if success {
		p.SuccessfulRuns++
	} else {
		p.FailedRuns++
	}
	s.pipelines[name] = p
	return nil
}

// ResetCounters implements status.PipelineStore.
func (s *Store) ResetCounters(_ context.Context, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.pipelines[name]
	if !ok {
		return fmt.Errorf("reset counters of %s: %w", name, status.ErrNotFound)
	}
	p.TotalRuns, p.SuccessfulRuns, p.FailedRuns, p.CountersResetAt = 0, 0, 0, norm(s.now())
	s.pipelines[name] = p
	return nil
}

// PutScheduleState implements status.ScheduleStore.
func (s *Store) PutScheduleState(_ context.Context, st status.ScheduleState) error {
	if st.Pipeline == "" || st.Key == "" {
		return fmt.Errorf("put schedule state: %w: empty pipeline or key", status.ErrInvalidArgument)
	}
	st.LastFire, st.NextFire = norm(st.LastFire), norm(st.NextFire)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.schedules[[2]string{st.Pipeline, st.Key}] = st
	return nil
}

// ListScheduleStates implements status.ScheduleStore.
func (s *Store) ListScheduleStates(_ context.Context, pipeline string) ([]status.ScheduleState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []status.ScheduleState
	for _, st := range s.schedules {
		if pipeline == "" || st.Pipeline == pipeline {
			out = append(out, st)
		}
	}
	slices.SortFunc(out, func(a, b status.ScheduleState) int {
		return cmp.Or(strings.Compare(a.Pipeline, b.Pipeline), strings.Compare(a.Key, b.Key))
	})
	return out, nil
}

// DeleteScheduleStates implements status.ScheduleStore.
func (s *Store) DeleteScheduleStates(_ context.Context, pipeline string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k := range s.schedules {
		if k[0] == pipeline {
			delete(s.schedules, k)
		}
	}
	return nil
}

// RecordFire implements status.ScheduleStore.
func (s *Store) RecordFire(_ context.Context, f status.Fire) error {
	if f.Key == "" || f.Pipeline == "" || f.FireAt.IsZero() {
		return fmt.Errorf("record fire: %w: empty key, pipeline or fire time", status.ErrInvalidArgument)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.fires[f.Key]; ok {
		return fmt.Errorf("record fire %s: %w", f.Key, status.ErrConflict)
	}
	f.FireAt = norm(f.FireAt)
	s.fires[f.Key] = f
	return nil
}

// PutSecret implements status.SecretStore.
func (s *Store) PutSecret(_ context.Context, key string, encrypted []byte) error {
	if key == "" {
		return fmt.Errorf("put secret: %w: empty key", status.ErrInvalidArgument)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := norm(s.now())
	sec, ok := s.secrets[key]
	if !ok {
		sec = status.Secret{Key: key, CreatedAt: now}
	}
	sec.Value, sec.UpdatedAt = append([]byte{}, encrypted...), now
	s.secrets[key] = sec
	return nil
}

// GetSecret implements status.SecretStore.
func (s *Store) GetSecret(_ context.Context, key string) (status.Secret, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, ok := s.secrets[key]
	if !ok {
		return status.Secret{}, fmt.Errorf("get secret %s: %w", key, status.ErrNotFound)
	}
	sec.Value = slices.Clone(sec.Value)
	return sec, nil
}

// ListSecrets implements status.SecretStore.
func (s *Store) ListSecrets(context.Context) ([]status.Secret, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []status.Secret
	for _, sec := range s.secrets {
		sec.Value = nil
		out = append(out, sec)
	}
	slices.SortFunc(out, func(a, b status.Secret) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

// DeleteSecret implements status.SecretStore.
func (s *Store) DeleteSecret(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.secrets[key]; !ok {
		return fmt.Errorf("delete secret %s: %w", key, status.ErrNotFound)
	}
	delete(s.secrets, key)
	return nil
}

// CreateUser implements status.AuthStore.
func (s *Store) CreateUser(_ context.Context, username, passwordHash string) (status.User, error) {
	if username == "" || passwordHash == "" {
		return status.User{}, fmt.Errorf("create user: %w: empty username or password hash", status.ErrInvalidArgument)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.userByName(username); ok {
		return status.User{}, fmt.Errorf("create user %s: %w", username, status.ErrConflict)
	}
	now := norm(s.now())
	u := status.User{ID: s.id(), Username: username, PasswordHash: passwordHash, CreatedAt: now, UpdatedAt: now}
	s.users[u.ID] = u
	return u, nil
}

func (s *Store) userByName(name string) (status.User, bool) {
	for _, u := range s.users {
		if u.Username == name {
			return u, true
		}
	}
	return status.User{}, false
}

// GetUser implements status.AuthStore.
func (s *Store) GetUser(_ context.Context, username string) (status.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.userByName(username)
	if !ok {
		return status.User{}, fmt.Errorf("get user %s: %w", username, status.ErrNotFound)
	}
	return u, nil
}

// ListUsers implements status.AuthStore.
func (s *Store) ListUsers(context.Context) ([]status.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Collect(maps.Values(s.users))
	slices.SortFunc(out, func(a, b status.User) int { return strings.Compare(a.Username, b.Username) })
	return out, nil
}

// SetPassword implements status.AuthStore.
func (s *Store) SetPassword(_ context.Context, username, passwordHash string) error {
	if passwordHash == "" {
		return fmt.Errorf("set password: %w: empty password hash", status.ErrInvalidArgument)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.userByName(username)
	if !ok {
		return fmt.Errorf("set password of %s: %w", username, status.ErrNotFound)
	}
	u.PasswordHash, u.UpdatedAt = passwordHash, norm(s.now())
	s.users[u.ID] = u
	return nil
}

// CreateSession implements status.AuthStore.
func (s *Store) CreateSession(_ context.Context, sess status.Session) error {
	if sess.TokenHash == "" || sess.ExpiresAt.IsZero() {
		return fmt.Errorf("create session: %w: empty token hash or expiry", status.ErrInvalidArgument)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[sess.UserID]; !ok {
		return fmt.Errorf("create session for user %d: %w", sess.UserID, status.ErrNotFound)
	}
	if _, ok := s.sessions[sess.TokenHash]; ok {
		return fmt.Errorf("create session for user %d: %w", sess.UserID, status.ErrConflict)
	}
	if sess.CreatedAt.IsZero() {
		sess.CreatedAt = s.now()
	}
	sess.CreatedAt, sess.ExpiresAt, sess.Username = norm(sess.CreatedAt), norm(sess.ExpiresAt), ""
	s.sessions[sess.TokenHash] = sess
	return nil
}

// GetSession implements status.AuthStore.
func (s *Store) GetSession(_ context.Context, tokenHash string) (status.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.sessions[tokenHash]
	if !ok || !sess.ExpiresAt.After(s.now()) {
		return status.Session{}, fmt.Errorf("get session: %w", status.ErrNotFound)
	}
	sess.Username = s.users[sess.UserID].Username
	return sess, nil
}

// DeleteSession implements status.AuthStore.
func (s *Store) DeleteSession(_ context.Context, tokenHash string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sessions, tokenHash)
	return nil
}

// DeleteExpiredSessions implements status.AuthStore.
func (s *Store) DeleteExpiredSessions(context.Context) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	var n int64
	for k, sess := range s.sessions {
		if !sess.ExpiresAt.After(now) {
			delete(s.sessions, k)
			n++
		}
	}
	return n, nil
}

// CreateAPIToken implements status.AuthStore.
func (s *Store) CreateAPIToken(_ context.Context, t status.APIToken) (status.APIToken, error) {
	if t.Hash == "" {
		return status.APIToken{}, fmt.Errorf("create api token: %w: empty hash", status.ErrInvalidArgument)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[t.UserID]; !ok {
		return status.APIToken{}, fmt.Errorf("create api token %q: %w", t.Name, status.ErrNotFound)
	}
	for _, old := range s.tokens {
		if old.Hash == t.Hash {
			return status.APIToken{}, fmt.Errorf("create api token %q: %w", t.Name, status.ErrConflict)
		}
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = s.now()
	}
	t.ID, t.Username = s.id(), ""
	t.CreatedAt, t.RevokedAt = norm(t.CreatedAt), norm(t.RevokedAt)
	s.tokens[t.ID] = t
	return t, nil
}

// GetAPIToken implements status.AuthStore.
func (s *Store) GetAPIToken(_ context.Context, hash string) (status.APIToken, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.tokens {
		if t.Hash == hash && t.RevokedAt.IsZero() {
			t.Username = s.users[t.UserID].Username
			return t, nil
		}
	}
	return status.APIToken{}, fmt.Errorf("get api token: %w", status.ErrNotFound)
}

// ListAPITokens implements status.AuthStore.
func (s *Store) ListAPITokens(context.Context) ([]status.APIToken, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []status.APIToken
	for _, t := range s.tokens {
		t.Username = s.users[t.UserID].Username
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b status.APIToken) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// RevokeAPIToken implements status.AuthStore.
func (s *Store) RevokeAPIToken(_ context.Context, id int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tokens[id]
	if !ok {
		return fmt.Errorf("revoke api token %d: %w", id, status.ErrNotFound)
	}
	if t.RevokedAt.IsZero() {
		t.RevokedAt = norm(s.now())
		s.tokens[id] = t
	}
	return nil
}

// RecordDelivery implements status.DeliveryStore.
func (s *Store) RecordDelivery(_ context.Context, d status.Delivery) error {
	if d.ID == "" {
		return fmt.Errorf("record delivery: %w: empty id", status.ErrInvalidArgument)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.deliveries[d.ID]; ok {
		return fmt.Errorf("record delivery %s: %w", d.ID, status.ErrConflict)
	}
	if d.ReceivedAt.IsZero() {
		d.ReceivedAt = s.now()
	}
	d.ReceivedAt = norm(d.ReceivedAt)
	s.deliveries[d.ID] = d
	return nil
}
