package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit/internal/backoff"
	"github.com/coordkit/coordkit/internal/watchresume"
)

// A registry watches, with one etcd watch, the keys of every Registration
// of one service made through one client, and tells a registration when
// its key is deleted. It lives while it has registrations.
type registry struct {
	key  registryKey
	log  *slog.Logger
	refs int // guarded by registries' lock

	ctx    context.Context // the watch's lifetime
	cancel context.CancelFunc
	done   chan struct{} // closed when the watch's goroutine returns

	mu sync.Mutex
	// regs are the tracked registrations by key; several of one key are
	// chained through Registration.next.
	regs map[string]*Registration
	// seen is the revision up to which every deletion has been looked at.
	seen int64
}

type registryKey struct {
	cli    *clientv3.Client
	prefix string // <namespace>/<service>/
}

var registries = struct {
	sync.Mutex
	m map[registryKey]*registry
}{m: map[registryKey]*registry{}}

// joinRegistry returns the registry of prefix on cli, starting it, with a
// watch of every deletion after revision rev, if there is none.
func joinRegistry(cli *clientv3.Client, prefix string, rev int64, log *slog.Logger) *registry {
	k := registryKey{cli: cli, prefix: prefix}
	registries.Lock()
	defer registries.Unlock()
	g := registries.m[k]
	if g == nil {
		g = &registry{key: k, log: log, regs: map[string]*Registration{}, seen: rev, done: make(chan struct{})}
		g.ctx, g.cancel = context.WithCancel(context.Background())
		registries.m[k] = g
		go g.run()
	}
	g.refs++
	return g
}

// leave drops one reference; the last one stops the watch.
func (g *registry) leave() {
	registries.Lock()
	g.refs--
	last := g.refs == 0
	if last {
		delete(registries.m, g.key)
	}
	registries.Unlock()
	if last {
		g.cancel()
		<-g.done
	}
}

// track records that r put its key at revision put (so the key has existed
// since), and reports whether a deletion after put may have been looked at
// before r was tracked with it: the caller must then read the key to know
// it is still there.
func (g *registry) track(r *Registration, put int64) (verify bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	r.putRev.Store(put)
	if !r.tracked {
		r.tracked = true
		r.next = g.regs[r.key]
		g.regs[r.key] = r
	}
	return g.seen > put
}

// untrack stops looking at r's key.
func (g *registry) untrack(r *Registration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !r.tracked {
		return
	}
	r.tracked = false
	if head := g.regs[r.key]; head == r {
		if r.next == nil {
			delete(g.regs, r.key)
		} else {
			g.regs[r.key] = r.next
		}
	} else {
		for p := head; p != nil; p = p.next {
			if p.next == r {
				p.next = r.next
				break
			}
		}
	}
	r.next = nil
}

// run watches the deletions under the prefix until the registry stops.
func (g *registry) run() {
	defer close(g.done)
	retry := backoff.New(backoff.Policy{Initial: 100 * time.Millisecond, Max: 5 * time.Second})
	for {
		g.mu.Lock()
		from := g.seen + 1
		g.mu.Unlock()
		s, err := watchresume.Open(g.ctx, g.key.cli, watchresume.Config{
			Range: watchresume.Prefix(g.key.prefix), Revision: from, FilterPut: true, Logger: g.log,
		})
		for err == nil {
			var u watchresume.Update
			if u, err = s.Next(); err == nil {
				g.apply(u)
				retry.Reset()
			}
		}
		if s != nil {
			s.Close()
		}
		if g.ctx.Err() != nil || errors.Is(err, watchresume.ErrClientClosed) {
			// A closed client ends every registration through its lease
			// and its writes; nothing is left to watch.
			return
		}
		// Something no retry of the same watch cures (a permission the
		// user lacks, for one): say so, and try again from where it was.
		g.log.Warn("discovery: watch of registration keys failed; deletions of keys go unnoticed until it works again", "prefix", g.key.prefix, "err", err)
		if retry.Wait(g.ctx) != nil {
			return
		}
	}
}

// apply tells every registration whose key u deleted (or, for a resync,
// no longer lists as it was) that it is lost.
func (g *registry) apply(u watchresume.Update) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if u.Resync {
		listed := make(map[string]int64, len(g.regs))
		for _, kv := range u.KVs {
			if _, ok := g.regs[string(kv.Key)]; ok {
				listed[string(kv.Key)] = kv.CreateRevision
			}
		}
		for key, r := range g.regs {
			for ; r != nil; r = r.next {
				// Listed, and not created again since the put: still there.
				if p := r.putRev.Load(); p <= u.Revision && !(listed[key] != 0 && listed[key] <= p) {
					r.keyGone(fmt.Errorf("%w: missing from a listing at revision %d (the watch history was compacted)", ErrKeyDeleted, u.Revision), u.Revision)
				}
			}
		}
	}
	for _, ev := range u.Events {
		if ev.Type != clientv3.EventTypeDelete {
			continue
		}
		for r := g.regs[string(ev.Kv.Key)]; r != nil; r = r.next {
			if ev.Kv.ModRevision > r.putRev.Load() {
				r.keyGone(fmt.Errorf("%w: deleted at revision %d", ErrKeyDeleted, ev.Kv.ModRevision), ev.Kv.ModRevision)
			}
		}
	}
	g.seen = max(g.seen, u.Revision)
}
