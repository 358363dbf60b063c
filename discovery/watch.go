package discovery

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Snapshot is the instances of a service at one etcd revision. It is
// immutable: its slices and their Metadata maps are shared by every reader
// and must not be modified.
type Snapshot struct {
	Service string
	// Revision is the etcd revision the snapshot reflects: every change
	// up to it is included.
	Revision int64
	// Instances are every registered instance, draining ones included,
	// sorted by ID.
	Instances []Instance

	available []Instance
}

// Available are the instances pickers may choose: those not draining,
// sorted by ID.
func (s Snapshot) Available() []Instance { return s.available }

// Watcher is a local, always-current cache of a service's instances. Reads
// (Instances, Snapshot, Revision) never send a request. Watchers of the
// same service, client and namespace share one etcd watch. It is safe for
// concurrent use.
type Watcher struct {
	h       *hub
	changes chan struct{}

	closeOnce sync.Once
	closed    chan struct{}
	// stopAfter unregisters the Close that ctx's end triggers. Atomic: a
	// ctx that ends while Watch starts runs Close before Watch stores it.
	stopAfter atomic.Pointer[func() bool]
}

// Watch starts a Watcher of service. It returns at once; WaitReady waits
// for the first snapshot. The Watcher lives until Close or until ctx ends.
//
// The cache lists the service at a revision R and watches every change
// after R, so no change is missed. When the watch breaks (compaction, a member restart, a
// lost leader, a reconnect) it lists again and publishes only the
// difference. It never publishes an empty set because of an error: it
// keeps the last good snapshot and reports Stale until it is current
// again. It also reports Stale when etcd stops answering: when the watch
// is quiet it asks for a progress notification and reads the store's
// revision (a store that has not moved past the cache's revision proves
// the cache current, on every etcd version, even where etcd withholds
// progress notifications), and without any answer for WithStaleAfter
// (default 5 s) the cache is marked stale. An idle store is not silence.
//
// Options: WithNamespace, WithStaleAfter, WithLogger.
func Watch(ctx context.Context, cli *clientv3.Client, service string, opts ...WatchOption) (*Watcher, error) {
	o, err := watchOptions(opts)
	if err == nil && cli == nil {
		err = fmt.Errorf("%w: nil *clientv3.Client; pass the client from coordkit.Connect or node.Client", ErrInvalidArgument)
	}
	if err == nil {
		err = validService(service)
	}
	if err != nil {
		return nil, fmt.Errorf("discovery: watch %s: %w", service, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("discovery: watch %s: %w", service, err)
	}
	w := &Watcher{changes: make(chan struct{}, 1), closed: make(chan struct{})}
	w.h = joinHub(cli, o.namespace, service, o, w)
	stop := context.AfterFunc(ctx, w.Close)
	w.stopAfter.Store(&stop)
	return w, nil
}

// Service is the watched service.
func (w *Watcher) Service() string { return w.h.service }

// Snapshot is the current snapshot; before the first one is loaded it has
// no instances and revision 0.
func (w *Watcher) Snapshot() Snapshot { return *w.h.snap.Load() }

// Instances are the current instances, draining ones included, sorted by
// ID. The slice is shared: do not modify it.
func (w *Watcher) Instances() []Instance { return w.h.snap.Load().Instances }

// Available are the current instances that are not draining, sorted by
// ID. The slice is shared: do not modify it. A Watcher is a Source for
// pickers.
func (w *Watcher) Available() []Instance { return w.h.snap.Load().available }

// Revision is the etcd revision the cache reflects.
func (w *Watcher) Revision() int64 { return w.h.snap.Load().Revision }

// Changes receives a value right after Watch and then whenever the
// instances, or the cache's staleness, change. Values are coalesced: a
// slow reader gets one for many changes and reads the latest state. The
// channel is closed by Close.
func (w *Watcher) Changes() <-chan struct{} { return w.changes }

// Stale reports whether the cache may be behind etcd: before the first
// snapshot, and while the watch is broken or etcd silent. Err says why.
func (w *Watcher) Stale() bool { return w.Err() != nil }

// Err is why the cache is stale (wrapping ErrStale), or nil.
func (w *Watcher) Err() error {
	w.h.mu.Lock()
	defer w.h.mu.Unlock()
	return w.h.err
}

// WaitReady blocks until the first snapshot is loaded, ctx ends, or the
// Watcher is closed.
func (w *Watcher) WaitReady(ctx context.Context) error {
	select {
	case <-w.closed:
		return fmt.Errorf("discovery: watch %s: %w", w.h.service, ErrClosed)
	default:
	}
	select {
	case <-w.h.ready:
		return nil
	case <-w.closed:
		return fmt.Errorf("discovery: watch %s: %w", w.h.service, ErrClosed)
	case <-ctx.Done():
		if err := w.Err(); err != nil {
			return fmt.Errorf("discovery: watch %s not ready: %w (%v)", w.h.service, ctx.Err(), err)
		}
		return fmt.Errorf("discovery: watch %s not ready: %w", w.h.service, ctx.Err())
	}
}

// Close stops the Watcher and closes Changes; the shared etcd watch stops
// with the last Watcher of the service. Close is idempotent.
func (w *Watcher) Close() {
	w.closeOnce.Do(func() {
		if stop := w.stopAfter.Load(); stop != nil {
			(*stop)()
		}
		close(w.closed)
		w.h.leave(w) // closes w.changes
	})
}

// resync asks the shared watch to list the service again soon (gRPC's
// ResolveNow).
func (w *Watcher) resync() { w.h.requestResync() }
