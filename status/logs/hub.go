package logs

import (
	"sync"
)

// Sequenced is what a Hub carries: items numbered by their producer in
// increasing order (a log line's number, a metrics point's number), so a
// reader can resume after the last number it saw.
type Sequenced interface {
	Seq() int64
}

// DefaultBuffer is how many live items a subscriber may fall behind, beyond
// the replayed ones, before the hub cuts it off.
const DefaultBuffer = 256

// HubOption tunes a Hub.
type HubOption func(*hubConfig)

type hubConfig struct {
	buffer int
}

// WithBuffer sets how many live items a subscriber may fall behind before it
// is cut off (DefaultBuffer when n < 1).
func WithBuffer(n int) HubOption {
	return func(c *hubConfig) {
		if n > 0 {
			c.buffer = n
		}
	}
}

// Hub fans the items of one run out to any number of readers. It keeps the
// last keep items so that a reader joining late, or resuming, first gets the
// recent past.
//
// Publish never waits for a reader: a subscriber whose buffer is full is cut
// off (its channel closed, Err returning ErrSlowReader) and may subscribe
// again after the last item it saw. Subscribe replays and registers under the
// same lock as Publish, so a reader sees every item after its starting point
// exactly once, in order, with no gap between the replayed and the live ones.
//
// All methods are safe for concurrent use. Close ends the hub: subscribers'
// channels close with Err nil, later Publish calls are ignored, and later
// subscribers get the kept items and then the end.
type Hub[T Sequenced] struct {
	keep   int
	buffer int

	mu     sync.Mutex
	ring   []T // grows to keep, then wraps at head
	head   int // index of the oldest item once len(ring) == keep
	last   int64
	subs   map[*Subscription[T]]struct{}
	closed bool
}

// NewHub returns a hub keeping the last keep items (at least 1).
func NewHub[T Sequenced](keep int, opts ...HubOption) *Hub[T] {
	cfg := hubConfig{buffer: DefaultBuffer}
	for _, o := range opts {
		o(&cfg)
	}
	return &Hub[T]{
		keep:   max(keep, 1),
		buffer: cfg.buffer,
		subs:   make(map[*Subscription[T]]struct{}),
	}
}

// Keep returns how many items the hub keeps for replay.
func (h *Hub[T]) Keep() int { return h.keep }

// Last returns the sequence number of the last published item (0 if none).
func (h *Hub[T]) Last() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.last
}

// Publish hands v to every subscriber without blocking and keeps it for
// replay. Items must come in increasing Seq order.
func (h *Hub[T]) Publish(v T) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	if len(h.ring) < h.keep {
		h.ring = append(h.ring, v)
	} else {
		h.ring[h.head] = v
		h.head = (h.head + 1) % h.keep
	}
	h.last = v.Seq()
	for s := range h.subs {
		select {
		case s.c <- v:
		default:
			s.end(ErrSlowReader)
		}
	}
}

// Subscribe returns a subscription that first yields the kept items with
// Seq() > after, then the live ones. Items up to after+1 that the hub no
// longer keeps are the reader's to fetch elsewhere (the log file): compare
// the first item's Seq with after+1.
func (h *Hub[T]) Subscribe(after int64) *Subscription[T] {
	h.mu.Lock()
	defer h.mu.Unlock()
	// Room for a full replay plus the live buffer, so the replay can never
	// be what cuts a new reader off.
	s := &Subscription[T]{hub: h, c: make(chan T, len(h.ring)+h.buffer)}
	n := len(h.ring)
	for i := range n {
		v := h.ring[(h.head+i)%n]
		if v.Seq() > after {
			s.c <- v
		}
	}
	if h.closed {
		s.end(nil)
		return s
	}
	h.subs[s] = struct{}{}
	return s
}

// Close ends the hub; subscribers see their channels close with Err nil.
// It is safe to call more than once.
func (h *Hub[T]) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.closed = true
	for s := range h.subs {
		s.end(nil)
	}
}

// Subscription is one reader's view of a Hub.
type Subscription[T Sequenced] struct {
	hub *Hub[T]
	c   chan T
	// err and done are guarded by hub.mu.
	err  error
	done bool
}

// C yields the items. It is closed when the hub closes, when the reader is
// cut off for being slow, or after Close.
func (s *Subscription[T]) C() <-chan T { return s.c }

// Err tells why C was closed: nil for the hub's end or the reader's own
// Close, ErrSlowReader when the reader was cut off. It is meaningful once C
// is closed.
func (s *Subscription[T]) Err() error {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	return s.err
}

// Dropped reports whether the reader was cut off for being slow.
func (s *Subscription[T]) Dropped() bool { return s.Err() == ErrSlowReader }

// Close leaves the hub; C closes. It is safe to call more than once and
// after the hub closed.
func (s *Subscription[T]) Close() {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	s.end(nil)
}

// end closes the channel once; the caller holds hub.mu.
func (s *Subscription[T]) end(err error) {
	if s.done {
		return
	}
	s.done = true
	s.err = err
	close(s.c)
	delete(s.hub.subs, s)
}
