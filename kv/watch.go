package kv

import (
	"context"
	"fmt"
	"sync"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit/internal/etcderr"
	"github.com/coordkit/coordkit/internal/watchresume"
)

// EventType says what an Event is.
type EventType int

const (
	// EventPut: a key was created or overwritten; Entry is its new state.
	EventPut EventType = iota + 1
	// EventDelete: a key was deleted (or its lease expired); Entry has the
	// Key and, as ModRevision, the revision of the deletion.
	EventDelete
	// EventResync: the watch could not deliver every change (the history it
	// needed was compacted) or was asked for the initial state; State is the
	// whole store at Revision and replaces whatever the caller knew.
	EventResync
)

func (t EventType) String() string {
	switch t {
	case EventPut:
		return "put"
	case EventDelete:
		return "delete"
	case EventResync:
		return "resync"
	}
	return fmt.Sprintf("EventType(%d)", int(t))
}

// Event is one change seen by a Watcher.
type Event[T any] struct {
	Type EventType
	// Entry is the key's new state (put) or the deleted key (delete).
	Entry Entry[T]
	// Prev is the key's state before the change, with WithPrevValue; nil if
	// the key did not exist, if the option was not given, or if
	// PrevUnknown is set.
	Prev *Entry[T]
	// PrevUnknown is set, with WithPrevValue, when the key existed before
	// the change but etcd did not return its previous value: the revision
	// before the change was compacted (etcd then omits it silently). Prev
	// is nil, and means nothing; read the key's history elsewhere if you
	// need it.
	PrevUnknown bool
	// Revision is the revision of the change, or of State for a resync.
	Revision int64
	// State is, for EventResync, every entry of the store at Revision.
	State []Entry[T]
	// Err is set, wrapping ErrCodec, when a value could not be decoded: the
	// event is still delivered with the key and metadata (for a resync, the
	// undecodable entries are left out of State).
	Err error
}

// WatchOption adjusts Watch.
type WatchOption func(*watchOptions)

type watchOptions struct {
	rev      int64
	prev     bool
	snapshot bool
	err      error
}

// FromRevision delivers changes from revision rev on, including changes made
// before Watch was called (like etcdctl watch --rev). If etcd has compacted
// rev away, the watch starts with an EventResync.
func FromRevision(rev int64) WatchOption {
	return func(o *watchOptions) {
		if rev <= 0 {
			o.err = fmt.Errorf("kv: FromRevision(%d): %w: revisions start at 1", rev, ErrInvalidArgument)
			return
		}
		o.rev = rev
	}
}

// WithPrevValue fills each event's Prev (like etcdctl watch --prev-kv).
// An event at a revision whose predecessor etcd has compacted comes without
// it: its PrevUnknown is set instead.
func WithPrevValue() WatchOption {
	return func(o *watchOptions) { o.prev = true }
}

// WithInitialState starts the watch with an EventResync holding the current
// state of the store, then delivers every change after it: list-then-watch
// in one call, without a gap. It excludes FromRevision.
func WithInitialState() WatchOption {
	return func(o *watchOptions) { o.snapshot = true }
}

// Watcher delivers a store's changes; see Store.Watch.
type Watcher[T any] struct {
	cancel context.CancelFunc
	events chan Event[T]
	done   chan struct{}
	mu     sync.Mutex
	err    error
}

// Events delivers the changes in revision order. It is closed only when the
// watch ends, and then Err says why.
func (w *Watcher[T]) Events() <-chan Event[T] { return w.events }

// Done is closed when the watch has ended.
func (w *Watcher[T]) Done() <-chan struct{} { return w.done }

// Close ends the watch and waits until its goroutine has stopped. It is
// idempotent; cancelling the context given to Watch has the same effect.
func (w *Watcher[T]) Close() {
	w.cancel()
	<-w.done
}

// Err is why the watch ended: the context's error, or a failure retrying
// cannot fix (client closed, permission denied). Nil while it runs.
func (w *Watcher[T]) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// Watch delivers every change to the store after the moment it returns (or
// from FromRevision), in revision order, each exactly once, until ctx ends.
//
// It never goes quiet while ctx lives: when etcd's watch breaks (a member
// restarts, the client reconnects, the member loses its leader) it resumes
// from the last revision delivered + 1, so nothing is lost or repeated; when
// the history it needs has been compacted, it lists the store and delivers
// an EventResync with the full state, then goes on from there. With
// WithPrevValue, an event whose previous value etcd has compacted away says
// so (PrevUnknown) rather than pass for a new key. It ends only when ctx
// ends or on a failure retrying cannot fix (also logged, see WithLogger);
// then Events is closed and Err says why.
//
// Watch returns once the starting revision is fixed; it fails only for bad
// options or if that first read fails. Consume Events promptly: a slow reader
// makes its changes queue in memory.
//
// The Watchers of one prefix on one client (without FromRevision or
// WithInitialState; with and without WithPrevValue apart) share one etcd
// watch: only the first reads the current revision, a later one starts
// where the shared watch is, so its first events may include changes
// committed shortly before Watch was called. The shared watch takes its
// resync page size, logger and metrics from the Store that opened it.
func (s *Store[T]) Watch(ctx context.Context, opts ...WatchOption) (*Watcher[T], error) {
	var o watchOptions
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	if o.err != nil {
		return nil, o.err
	}
	if o.snapshot && o.rev != 0 {
		return nil, fmt.Errorf("kv: watch %q: %w: WithInitialState and FromRevision exclude each other", s.prefix, ErrInvalidArgument)
	}
	resumed, resynced := s.o.metrics.hooks()
	if o.rev == 0 && !o.snapshot {
		h, sub, err := joinHub(ctx, hubKey{cli: s.cli, prefix: s.prefix, prev: o.prev}, watchresume.Config{
			PageSize: s.o.pageSize, Logger: s.o.logger, OnResume: resumed, OnResync: resynced,
		})
		if err != nil {
			return nil, fmt.Errorf("kv: watch %q: %w", s.prefix, etcderr.WrapMemberStopped(err))
		}
		ctx, cancel := context.WithCancel(ctx)
		w := &Watcher[T]{cancel: cancel, events: make(chan Event[T]), done: make(chan struct{})}
		go s.runWatch(ctx, func() (watchresume.Update, error) { return sub.next(ctx) }, func() { h.leave(sub) }, w, o.prev)
		return w, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	st, err := watchresume.Open(ctx, s.cli, watchresume.Config{
		Range: s.rng, Revision: o.rev, Snapshot: o.snapshot, PrevKV: o.prev,
		PageSize: s.o.pageSize, Logger: s.o.logger,
		OnResume: resumed, OnResync: resynced,
	})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("kv: watch %q: %w", s.prefix, etcderr.WrapMemberStopped(err))
	}
	w := &Watcher[T]{cancel: cancel, events: make(chan Event[T]), done: make(chan struct{})}
	go s.runWatch(ctx, st.Next, st.Close, w, o.prev)
	return w, nil
}

// runWatch decodes and delivers the Updates next returns until it fails,
// then calls stop before it closes the Watcher.
func (s *Store[T]) runWatch(ctx context.Context, next func() (watchresume.Update, error), stop func(), w *Watcher[T], prev bool) {
	defer close(w.done)
	defer close(w.events)
	defer stop()
	for {
		u, err := next()
		if err != nil {
			err = fmt.Errorf("kv: watch %q ended: %w", s.prefix, etcderr.WrapMemberStopped(err))
			if ctx.Err() == nil { // not ended by its owner: say so
				s.o.logger.Warn("kv: watch ended", "prefix", s.prefix, "err", err)
			}
			w.mu.Lock()
			w.err = err
			w.mu.Unlock()
			return
		}
		if u.Resync {
			ev := Event[T]{Type: EventResync, Revision: u.Revision}
			ev.State, ev.Err = s.entries("watch resync", u.KVs)
			w.send(ctx, ev) // if ctx ended, next reports it
			continue
		}
		for _, e := range u.Events {
			if !w.send(ctx, s.event(e, prev)) {
				break
			}
		}
	}
}

func (w *Watcher[T]) send(ctx context.Context, ev Event[T]) bool {
	select {
	case w.events <- ev:
		return true
	case <-ctx.Done():
		return false
	}
}

func (s *Store[T]) event(e *clientv3.Event, prev bool) Event[T] {
	ev := Event[T]{Type: EventPut, Revision: e.Kv.ModRevision}
	if e.Type == mvccpb.DELETE {
		ev.Type = EventDelete
		ev.Entry = s.meta(e.Kv)
	} else {
		ev.Entry, ev.Err = s.entry(e.Kv)
		if ev.Err != nil {
			ev.Err = fmt.Errorf("kv: watch: %w", ev.Err)
		}
	}
	if e.PrevKv != nil {
		p, err := s.entry(e.PrevKv)
		if err != nil && ev.Err == nil {
			ev.Err = fmt.Errorf("kv: watch: previous value: %w", err)
		}
		ev.Prev = &p
	} else if prev && !e.IsCreate() {
		// A deletion, or a put of a key that existed (version > 1): etcd
		// had a previous value and could not read it.
		ev.PrevUnknown = true
	}
	return ev
}
