package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit/internal/backoff"
	"github.com/coordkit/coordkit/internal/watchresume"
)

// A hub is the one etcd watch of a service per client and namespace in a
// process, shared by all the Watchers of it and counted by reference. It
// keeps the service's instances as an immutable Snapshot, replaced on
// every change.
type hub struct {
	key     hubKey
	cli     *clientv3.Client
	service string
	log     *slog.Logger

	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{} // closed when run returns
	ready   chan struct{} // closed after the first list
	resyncc chan struct{}
	snap    atomic.Pointer[Snapshot]
	metrics atomic.Pointer[discoveryMetrics] // set once a Watcher asks for it

	refs int // guarded by hubs' lock

	mu         sync.Mutex // guards the fields below
	subs       map[*Watcher]struct{}
	err        error // why the cache is stale; nil when current
	staleAfter time.Duration

	// Owned by run.
	lastList time.Time
	relists  atomic.Int64 // lists after the first, for tests
	// Signs of life of a quiet watch, for tests: progress notifications,
	// and probes that found the cache current.
	progressed, probed atomic.Int64
	staleSpells        atomic.Int64 // times a loaded cache turned stale, for tests
}

type hubKey struct {
	cli    *clientv3.Client
	prefix string
}

var hubs = struct {
	sync.Mutex
	m map[hubKey]*hub
}{m: map[hubKey]*hub{}}

// minResync spaces out lists asked for by ResolveNow.
const minResync = time.Second

var errResync = errors.New("resync requested")

// errNotLoaded is a new hub's error, until its first list succeeds or
// fails.
var errNotLoaded = fmt.Errorf("%w: not loaded yet", ErrStale)

// joinHub subscribes w to the hub of (cli, namespace, service), starting
// the hub if w is its first Watcher.
func joinHub(cli *clientv3.Client, ns, service string, o options, w *Watcher) *hub {
	k := hubKey{cli: cli, prefix: servicePrefix(ns, service)}
	hubs.Lock()
	defer hubs.Unlock()
	h := hubs.m[k]
	if h == nil {
		h = &hub{
			key: k, cli: cli, service: service,
			log:        o.logger.With("service", service, "prefix", k.prefix),
			done:       make(chan struct{}),
			ready:      make(chan struct{}),
			resyncc:    make(chan struct{}, 1),
			subs:       map[*Watcher]struct{}{},
			err:        errNotLoaded,
			staleAfter: o.staleAfter,
		}
		h.snap.Store(&Snapshot{Service: service})
		h.ctx, h.cancel = context.WithCancel(context.Background())
		hubs.m[k] = h
		go h.run()
	}
	h.refs++
	if o.metrics != nil && h.metrics.CompareAndSwap(nil, o.metrics) {
		h.report()
	}
	h.mu.Lock()
	if o.staleAfter < h.staleAfter {
		h.staleAfter = o.staleAfter
	}
	h.subs[w] = struct{}{}
	w.changes <- struct{}{} // the initial state
	h.mu.Unlock()
	return h
}

// leave unsubscribes w; the last Watcher out stops the hub.
func (h *hub) leave(w *Watcher) {
	h.mu.Lock()
	delete(h.subs, w)
	close(w.changes)
	h.mu.Unlock()
	hubs.Lock()
	h.refs--
	last := h.refs == 0
	if last {
		delete(hubs.m, h.key)
	}
	hubs.Unlock()
	if last {
		h.cancel()
		<-h.done
	}
}

// notifyLocked wakes every Watcher, without blocking. h.mu is held.
func (h *hub) notifyLocked() {
	for w := range h.subs {
		select {
		case w.changes <- struct{}{}:
		default:
		}
	}
}

func (h *hub) setErr(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if (h.err == nil) != (err == nil) || (err != nil && err.Error() != h.err.Error()) {
		if h.err == nil {
			h.staleSpells.Add(1)
		}
		h.err = err
		h.notifyLocked()
		if m := h.metrics.Load(); m != nil {
			m.cache(h.service, len(h.snap.Load().Instances), err != nil)
		}
	}
}

// report records the cache's size and staleness, when measured.
func (h *hub) report() {
	if m := h.metrics.Load(); m != nil {
		h.mu.Lock()
		stale := h.err != nil
		h.mu.Unlock()
		m.cache(h.service, len(h.snap.Load().Instances), stale)
	}
}

func (h *hub) staleTimeout() time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.staleAfter
}

func (h *hub) requestResync() {
	select {
	case h.resyncc <- struct{}{}:
	default:
	}
}

// run lists and watches until the last Watcher leaves. Errors never clear
// the snapshot; they mark it stale.
func (h *hub) run() {
	defer close(h.done)
	retry := backoff.New(backoff.Policy{Initial: 20 * time.Millisecond, Max: 2 * time.Second})
	for {
		rev, err := h.list()
		heard := false
		if err == nil {
			heard, err = h.follow(rev)
		}
		if h.ctx.Err() != nil {
			return
		}
		if h.cli.Ctx().Err() != nil {
			h.setErr(fmt.Errorf("%w: %w", ErrStale, ErrClientClosed))
			h.log.Warn("discovery: etcd client closed under a watcher; close watchers before the client")
			return
		}
		h.setErr(fmt.Errorf("%w: %w", ErrStale, err))
		if heard {
			retry.Reset()
		}
		switch {
		case errors.Is(err, errResync):
			h.log.Debug("discovery: resync requested")
		case errors.Is(err, rpctypes.ErrCompacted):
			h.log.Info("discovery: watch history compacted, listing again", "err", err)
		default:
			h.log.Debug("discovery: watch broken, listing again", "err", err)
			if retry.Wait(h.ctx) != nil {
				return
			}
		}
	}
}

// list reads every instance, page by page at one revision, and publishes
// the difference from what the cache held.
func (h *hub) list() (int64, error) {
	ctx, cancel := context.WithTimeout(h.ctx, max(2*h.staleTimeout(), 5*time.Second))
	defer cancel()
	kvs, rev, err := watchresume.List(ctx, h.cli, watchresume.Prefix(h.key.prefix), watchresume.ListOptions{})
	if err != nil {
		return 0, fmt.Errorf("list %s: %w", h.key.prefix, err)
	}
	all := make([]Instance, 0, len(kvs))
	for _, kv := range kvs {
		if inst, ok := h.decode(kv.Key, kv.Value); ok {
			all = append(all, inst) // etcd returns keys, hence IDs, in order
		}
	}
	old := h.snap.Load()
	if old.Revision != 0 {
		h.relists.Add(1)
	}
	h.lastList = time.Now()
	if old.Revision == 0 || !slices.EqualFunc(old.Instances, all, equalInstance) {
		h.publish(all, rev)
	} else {
		h.advance(rev)
	}
	h.setErr(nil)
	select {
	case <-h.ready:
	default:
		close(h.ready)
	}
	return rev, nil
}

// follow applies the watch of every change after rev until it breaks, and
// says whether etcd answered at all.
//
// A quiet watch is judged alive by either of two answers, asked for at
// every tick (half a stale timeout) unless one just came: a progress notification on the watch, or a probe, a
// read of the store's revision, that finds the cache current (nothing
// happened since its revision, so there is nothing to miss). The probe is
// what keeps an idle store from looking silent on etcd 3.6+, which
// withholds progress notifications from a whole gRPC watch stream while
// any of its watchers starts ahead of the store: this watch never does
// (watchresume.Watch), but clientv3 resumes a watch after a reconnect one
// past its last progress revision, and other watches of the client share
// the stream.
func (h *hub) follow(rev int64) (heard bool, err error) {
	ctx, cancel := context.WithCancel(clientv3.WithRequireLeader(h.ctx))
	// clientv3's Watch blocks until etcd confirms the watch: open it aside,
	// so that a silent network is noticed meanwhile.
	opened := make(chan clientv3.WatchChan, 1)
	go func() {
		opened <- watchresume.Watch(ctx, h.cli, watchresume.Prefix(h.key.prefix), rev, 0, clientv3.WithCreatedNotify())
	}()
	probes := make(chan int64, 1) // the store's revision, 0 if unknown
	probing := false
	defer func() {
		cancel()
		<-opened // Watch returns once ctx is cancelled
		if probing {
			<-probes
		}
	}()
	staleAfter := h.staleTimeout()
	tick := time.NewTicker(staleAfter / 2)
	defer tick.Stop()
	last := time.Now() // of the last answer from etcd
	alive := func() {
		heard, last = true, time.Now()
		h.setErr(nil)
	}
	var wch clientv3.WatchChan
	var resync <-chan time.Time
	pending := opened
	for {
		select {
		case <-h.ctx.Done():
			return heard, h.ctx.Err()
		case <-h.resyncc:
			wait := minResync - time.Since(h.lastList)
			if wait <= 0 {
				return heard, errResync
			}
			if resync == nil { // too soon after a list: later, not never
				resync = time.After(wait)
			}
		case <-resync:
			return heard, errResync
		case wch = <-pending:
			opened <- wch // for the deferred wait
			pending = nil
		case cur := <-probes:
			probing = false
			if cur != 0 && cur <= h.snap.Load().Revision {
				h.probed.Add(1)
				alive()
			}
		case resp, ok := <-wch:
			switch {
			case !ok:
				return heard, errors.New("watch channel closed")
			case resp.CompactRevision != 0:
				return heard, fmt.Errorf("%w: wanted revision %d, compacted to %d", rpctypes.ErrCompacted, rev, resp.CompactRevision)
			case resp.Err() != nil:
				return heard, resp.Err()
			}
			alive()
			switch {
			case resp.IsProgressNotify():
				h.progressed.Add(1)
				h.advance(resp.Header.Revision)
			case len(resp.Events) > 0:
				if evs := watchresume.Fresh(resp.Events, rev); len(evs) > 0 {
					rev = evs[len(evs)-1].Kv.ModRevision
					h.apply(evs, rev)
				}
			}
		case <-tick.C:
			if d := h.staleTimeout(); d != staleAfter {
				staleAfter = d
				tick.Reset(d / 2)
			}
			silent := time.Since(last)
			if silent >= 2*staleAfter {
				// Not even progress requests are answered: the stream
				// may be wedged. Open a new one, after a fresh list.
				return heard, fmt.Errorf("no answer from etcd on the watch for %v", silent.Round(time.Millisecond))
			}
			if silent >= staleAfter {
				h.setErr(fmt.Errorf("%w: no answer from etcd on the watch for over %v", ErrStale, staleAfter))
			}
			if silent >= staleAfter/4 {
				// A quiet watch asks for a sign of life, at every tick:
				// an answer that came just after the last tick must not
				// skip this one, or the next could find it stale with
				// nothing asked meanwhile.
				rctx, rcancel := context.WithTimeout(ctx, staleAfter/2)
				_ = h.cli.RequestProgress(rctx)
				rcancel()
				if !probing {
					probing = true
					go func() { probes <- h.probe(ctx, staleAfter/2) }()
				}
			}
		}
	}
}

// probe reads the store's current revision, within timeout; 0 if it
// cannot.
func (h *hub) probe(ctx context.Context, timeout time.Duration) int64 {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := h.cli.Get(ctx, h.key.prefix, clientv3.WithCountOnly())
	if err != nil {
		return 0
	}
	return resp.Header.Revision
}

// decode turns a key-value under the prefix into an Instance; values that
// are not endpoints JSON are skipped, with a warning.
func (h *hub) decode(key, value []byte) (Instance, bool) {
	id := strings.TrimPrefix(string(key), h.key.prefix)
	if id == "" {
		return Instance{}, false
	}
	inst, err := decode(h.service, id, value)
	if err != nil {
		h.log.Warn("discovery: skipping a key that is not an instance", "key", string(key), "err", err)
		return Instance{}, false
	}
	return inst, true
}

// apply merges a batch of events into the snapshot. The merge walks the
// sorted instances once: O(n + k log k) for k events.
func (h *hub) apply(evs []*clientv3.Event, rev int64) {
	changes := make(map[string]*Instance, len(evs))
	for _, ev := range evs {
		id := strings.TrimPrefix(string(ev.Kv.Key), h.key.prefix)
		if ev.Type == clientv3.EventTypePut {
			if inst, ok := h.decode(ev.Kv.Key, ev.Kv.Value); ok {
				changes[id] = &inst
				continue
			}
		}
		changes[id] = nil // deleted, or no longer an instance
	}
	ids := make([]string, 0, len(changes))
	for id := range changes {
		ids = append(ids, id)
	}
	slices.Sort(ids)

	old := h.snap.Load().Instances
	out := make([]Instance, 0, len(old)+len(ids))
	changed := false
	i := 0
	for _, id := range ids {
		for i < len(old) && old[i].ID < id {
			out = append(out, old[i])
			i++
		}
		exists := i < len(old) && old[i].ID == id
		c := changes[id]
		switch {
		case c == nil && exists:
			i++
			changed = true
		case c == nil:
		case exists:
			changed = changed || !equalInstance(old[i], *c)
			out = append(out, *c)
			i++
		default:
			out = append(out, *c)
			changed = true
		}
	}
	if !changed {
		h.advance(rev)
		return
	}
	h.publish(append(out, old[i:]...), rev)
}

// advance moves the snapshot's revision without changing its instances.
func (h *hub) advance(rev int64) {
	old := h.snap.Load()
	if rev > old.Revision {
		s := *old
		s.Revision = rev
		h.snap.Store(&s)
	}
}

// publish stores a new snapshot of changed instances and wakes the
// Watchers.
func (h *hub) publish(all []Instance, rev int64) {
	avail := all
	if slices.ContainsFunc(all, func(i Instance) bool { return i.Draining }) {
		avail = slices.DeleteFunc(slices.Clone(all), func(i Instance) bool { return i.Draining })
	}
	h.snap.Store(&Snapshot{Service: h.service, Revision: rev, Instances: all, available: avail})
	h.mu.Lock()
	h.notifyLocked()
	h.mu.Unlock()
	h.report()
}
