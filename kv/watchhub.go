package kv

import (
	"context"
	"sync"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit/internal/watchresume"
)

// A watchHub is the one etcd watch that every Watcher of a prefix on a
// client shares (one per WithPrevValue setting): the first Watcher opens it,
// later ones subscribe at its current position without a read of their
// own, and the last one out closes it. The hub hands each Update, undecoded,
// to every subscriber's queue; each Watcher decodes in its own goroutine, so
// a slow reader delays nobody else.
type watchHub struct {
	key    hubKey
	cancel context.CancelFunc
	ready  chan struct{} // closed once opened (or failed: openErr)
	done   chan struct{} // closed when run returns
	refs   int           // guarded by watchHubs' lock

	openErr error

	mu   sync.Mutex
	subs map[*hubSub]struct{}
	err  error // why the shared watch ended; nil while it runs
}

type hubKey struct {
	cli    *clientv3.Client
	prefix string
	prev   bool
}

var watchHubs = struct {
	sync.Mutex
	m map[hubKey]*watchHub
}{m: map[hubKey]*watchHub{}}

// hubSub is one Watcher's queue of Updates.
type hubSub struct {
	mu    sync.Mutex
	queue []watchresume.Update
	end   error         // set when the hub ended, after the queue
	wake  chan struct{} // buffered: a new Update or the end
}

func (q *hubSub) push(u watchresume.Update) {
	q.mu.Lock()
	q.queue = append(q.queue, u)
	q.mu.Unlock()
	q.signal()
}

func (q *hubSub) stop(err error) {
	q.mu.Lock()
	q.end = err
	q.mu.Unlock()
	q.signal()
}

func (q *hubSub) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// next returns the next Update, or the hub's error once the queue is
// drained, or ctx's error.
func (q *hubSub) next(ctx context.Context) (watchresume.Update, error) {
	for {
		q.mu.Lock()
		if len(q.queue) > 0 {
			u := q.queue[0]
			q.queue[0] = watchresume.Update{}
			q.queue = q.queue[1:]
			if len(q.queue) == 0 {
				q.queue = nil // let a long backlog's array go
			}
			q.mu.Unlock()
			return u, nil
		}
		end := q.end
		q.mu.Unlock()
		if end != nil {
			return watchresume.Update{}, end
		}
		if ctx.Err() != nil {
			return watchresume.Update{}, context.Cause(ctx)
		}
		select {
		case <-q.wake:
		case <-ctx.Done():
		}
	}
}

// joinHub subscribes to the shared watch of k, opening it if nobody watches
// k yet, with cfg's page size, logger and metrics hooks (those of the Store
// that opens it). ctx bounds only the joining.
func joinHub(ctx context.Context, k hubKey, cfg watchresume.Config) (*watchHub, *hubSub, error) {
	for {
		watchHubs.Lock()
		h := watchHubs.m[k]
		creator := h == nil
		if creator {
			h = &watchHub{key: k, ready: make(chan struct{}), done: make(chan struct{}), subs: map[*hubSub]struct{}{}}
			watchHubs.m[k] = h
		}
		h.refs++
		watchHubs.Unlock()

		if creator {
			h.open(ctx, cfg)
		} else {
			select {
			case <-h.ready:
			case <-ctx.Done():
				h.release()
				return nil, nil, context.Cause(ctx)
			}
		}
		if h.openErr != nil {
			h.release()
			if creator {
				return nil, nil, h.openErr
			}
			continue // the opener's context ended, or its read failed: try anew
		}
		sub := &hubSub{wake: make(chan struct{}, 1)}
		h.mu.Lock()
		ended := h.err != nil
		if !ended {
			h.subs[sub] = struct{}{}
		}
		h.mu.Unlock()
		if ended { // a hub that just ended has left the registry: open anew
			h.release()
			continue
		}
		return h, sub, nil
	}
}

// open fixes the shared watch's starting revision (one read, for the whole
// hub) and starts it. A failure is left in openErr and the hub leaves the
// registry.
func (h *watchHub) open(ctx context.Context, cfg watchresume.Config) {
	defer close(h.ready)
	hctx, cancel := context.WithCancel(context.Background())
	stop := context.AfterFunc(ctx, cancel) // the first caller gave up: so does the read
	cfg.Range, cfg.PrevKV = watchresume.Prefix(h.key.prefix), h.key.prev
	st, err := watchresume.Open(hctx, h.key.cli, cfg)
	if !stop() && err == nil {
		st.Close()
		err = context.Cause(ctx)
	}
	if err != nil {
		cancel()
		h.openErr = err
		close(h.done)
		h.unregister()
		return
	}
	h.cancel = cancel
	go h.run(st)
}

// run hands every Update to every subscriber until the stream ends.
func (h *watchHub) run(st *watchresume.Stream) {
	defer close(h.done)
	defer st.Close()
	for {
		u, err := st.Next()
		h.mu.Lock()
		if err != nil {
			h.err = err
			for sub := range h.subs {
				sub.stop(err)
			}
			h.mu.Unlock()
			h.unregister()
			return
		}
		for sub := range h.subs {
			sub.push(u)
		}
		h.mu.Unlock()
	}
}

// unregister removes the hub from the registry, so that the next Watcher
// opens a new one.
func (h *watchHub) unregister() {
	watchHubs.Lock()
	if watchHubs.m[h.key] == h {
		delete(watchHubs.m, h.key)
	}
	watchHubs.Unlock()
}

// leave unsubscribes sub; the last one out stops the shared watch.
func (h *watchHub) leave(sub *hubSub) {
	h.mu.Lock()
	delete(h.subs, sub)
	h.mu.Unlock()
	h.release()
}

func (h *watchHub) release() {
	watchHubs.Lock()
	h.refs--
	last := h.refs == 0
	if last && watchHubs.m[h.key] == h {
		delete(watchHubs.m, h.key)
	}
	watchHubs.Unlock()
	if last {
		<-h.ready
		if h.cancel != nil {
			h.cancel()
		}
		<-h.done
	}
}
