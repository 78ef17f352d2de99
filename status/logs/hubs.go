package logs

import "sync"

// Hubs is the registry of the live hubs of running runs, keyed by run ID:
// the operator opens a run's hub when the run starts and closes it when the
// run's output is complete; the API looks it up to stream. Safe for
// concurrent use.
type Hubs[T Sequenced] struct {
	keep int
	opts []HubOption

	mu   sync.Mutex
	hubs map[string]*Hub[T]
}

// NewHubs returns an empty registry whose hubs keep the last keep items.
func NewHubs[T Sequenced](keep int, opts ...HubOption) *Hubs[T] {
	return &Hubs[T]{keep: keep, opts: opts, hubs: make(map[string]*Hub[T])}
}

// Open returns the hub of runID, creating it if there is none, so that
// re-attaching to a run after a restart reuses a live hub.
func (r *Hubs[T]) Open(runID string) *Hub[T] {
	r.mu.Lock()
	defer r.mu.Unlock()
	h, ok := r.hubs[runID]
	if !ok {
		h = NewHub[T](r.keep, r.opts...)
		r.hubs[runID] = h
	}
	return h
}

// Get returns the hub of runID if the run is live.
func (r *Hubs[T]) Get(runID string) (*Hub[T], bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	h, ok := r.hubs[runID]
	return h, ok
}

// Close closes the hub of runID, ending its readers, and forgets it. It does
// nothing for an unknown run.
func (r *Hubs[T]) Close(runID string) {
	r.mu.Lock()
	h, ok := r.hubs[runID]
	delete(r.hubs, runID)
	r.mu.Unlock()
	if ok {
		h.Close()
	}
}

// CloseAll closes every hub, for shutdown.
func (r *Hubs[T]) CloseAll() {
	r.mu.Lock()
	hs := r.hubs
	r.hubs = make(map[string]*Hub[T])
	r.mu.Unlock()
	for _, h := range hs {
		h.Close()
	}
}

// Len returns the number of live hubs.
func (r *Hubs[T]) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.hubs)
}
