package lock

import (
	"github.com/coordkit/coordkit/internal/etcderr"

	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit/internal/backoff"
	"github.com/coordkit/coordkit/internal/watchresume"
	"github.com/coordkit/coordkit/lease"
)

// A queue is the etcd side of every lock in this package, and the layout
// of etcd's concurrency.Mutex: each acquisition puts a key under the lock's
// prefix, attached to a lease; keys are ordered by create revision; a key
// holds once the keys ahead of it that matter (all of them, for a mutex)
// are gone. Waiting means watching for the deletion of the nearest such
// key, never polling.
type queue struct {
	s *session

	// key names the key for an acquisition on lease id. A fixed key (a
	// Mutex's, as in etcd) can collide with one a handle sharing the lease
	// made: then the acquisition waits for it to go. Other keys carry a
	// random suffix and are simply redrawn.
	key      func(id clientv3.LeaseID) string
	fixedKey bool

	// blockers reads the keys that matter ahead of a key created after
	// maxRev. maxRev 0 means every key present: that read runs in the txn
	// that creates the key, before the put.
	blockers func(maxRev int64) clientv3.Op
	// turn decides from the blockers read whether the key holds and, if
	// not, which key (or prefix) to watch for a deletion.
	turn func(*pb.RangeResponse) (bool, target)

	// conds must hold when the key is created and at every check (a
	// semaphore's limit). When they fail, condOps are read and rejected
	// explains: a nil error means it repaired the cause; retry.
	conds    []clientv3.Cmp
	condOps  []clientv3.Op
	rejected func(ctx context.Context, resps []*pb.ResponseOp) (failed bool, err error)

	ahead clientv3.Op // blockers(0), built once
}

// errLeaseGone marks a create etcd refused because the lease is gone.
var errLeaseGone = errors.New("etcd no longer has the lease")

// target is what a waiter watches for a deletion.
type target struct {
	key    string
	prefix bool
}

// init completes a queue once its fields are set.
func (q *queue) init() *queue {
	q.ahead = q.blockers(0)
	return q
}

// acquire takes a place in the queue and, unless try, waits for its turn.
func (q *queue) acquire(ctx context.Context, try bool) (held *Held, err error) {
	if m := q.s.o.metrics; m != nil {
		start := time.Now()
		defer func() { m.acquired(start, err) }()
	}
	if err := ctx.Err(); err != nil {
		return nil, errorf("acquire", q.s.name, "%w", context.Cause(ctx))
	}
	l, err := q.s.lease(ctx)
	if err != nil {
		return nil, err
	}
	if err := q.s.flush(ctx); err != nil {
		return nil, err
	}
	regranted := false
	for {
		key := q.key(l.ID())
		nonce := newNonce()
		resp, err := q.create(ctx, l, key, nonce)
		if errors.Is(err, errLeaseGone) && !q.s.o.shared && !regranted {
			// etcd refused the key: the handle's lease is gone (revoked
			// elsewhere) before its keep-alive noticed. Nothing was
			// written; start over once on a fresh lease.
			regranted = true
			if l, err = q.s.lease(ctx); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		if !resp.Succeeded {
			if err := q.collided(ctx, l, key, resp, try); err != nil {
				return nil, err
			}
			continue
		}
		rev := resp.Header.Revision
		held, next := q.turn(resp.Responses[0].GetResponseRange())
		if !held {
			if try {
				q.abandon(ctx, l, fence{key: key, rev: rev})
				return nil, errorf("try acquire", q.s.name, "%w", ErrLocked)
			}
			if err := q.wait(ctx, l, key, rev, next); err != nil {
				q.abandon(ctx, l, fence{key: key, rev: rev})
				return nil, err
			}
		}
		// Never report an acquisition the lease may not back any more.
		if l.Err() != nil || !time.Now().Before(l.Deadline()) {
			q.abandon(ctx, l, fence{key: key, rev: rev})
			return nil, leaseLost(q.s.name, l)
		}
		return newHeld(q.s, l, key, rev), nil
	}
}

// create puts the acquisition's key unless it exists, reading what is ahead
// of it in the same txn.
func (q *queue) create(ctx context.Context, l *lease.Lease, key, nonce string) (*clientv3.TxnResponse, error) {
	cmps := append([]clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(key), "=", 0)}, q.conds...)
	then := []clientv3.Op{q.ahead, clientv3.OpPut(key, nonce, clientv3.WithLease(l.ID()))}
	els := append([]clientv3.Op{clientv3.OpGet(key)}, q.condOps...)
	if err := etcderr.ClientClosed(q.s.cli); err != nil {
		return nil, errorf("acquire", q.s.name, "enqueue %s not sent: %w", key, err) // nothing to clean up
	}
	resp, err := q.s.cli.Txn(ctx).If(cmps...).Then(then...).Else(els...).Commit()
	if err == nil {
		return resp, nil
	}
	if errors.Is(err, rpctypes.ErrLeaseNotFound) {
		q.s.leaseGone(l)
		return nil, fmt.Errorf("%w: %w", leaseLost(q.s.name, l), errLeaseGone)
	}
	// The key may have been created: owe its deletion, identified by the
	// nonce, rather than retry a write whose outcome is unknown.
	f := fence{key: key, nonce: nonce}
	if ctx.Err() != nil {
		// The caller gave up while the answer was on its way: the key is
		// most likely queued, where it would block every other waiter once
		// at the front. Delete it now; it stays owed too, in case the
		// write is applied after this deletion.
		q.abandon(ctx, l, f)
	}
	q.s.owe(f)
	return nil, errorf("acquire", q.s.name, "enqueue %s: %w", key, etcderr.WrapNoSpace(err))
}

// collided handles a create that was refused: the conditions failed, or
// the key exists.
func (q *queue) collided(ctx context.Context, l *lease.Lease, key string, resp *clientv3.TxnResponse, try bool) error {
	if q.rejected != nil {
		if failed, err := q.rejected(ctx, resp.Responses[1:]); failed || err != nil {
			return err
		}
	}
	kvs := resp.Responses[0].GetResponseRange().Kvs
	if len(kvs) == 0 || !q.fixedKey {
		return nil // gone meanwhile, or a random key to redraw
	}
	// Another handle sharing this lease holds or awaits the same lock.
	if try {
		return errorf("try acquire", q.s.name, "%w: another handle on lease %x holds or awaits it", ErrLocked, int64(l.ID()))
	}
	wctx, stop := q.bound(ctx, l, "", 0)
	defer stop()
	w, err := q.watch(wctx, target{key: key})
	if err != nil {
		return q.waitErr(wctx, l, err)
	}
	defer w.stop()
	// Watch first, then look: a deletion in between is not missed.
	get, err := q.s.cli.Get(wctx, key)
	if err != nil {
		return q.waitErr(wctx, l, err)
	}
	if len(get.Kvs) == 0 || get.Kvs[0].CreateRevision != kvs[0].CreateRevision {
		return nil
	}
	if !w.deleted(wctx) && wctx.Err() == nil {
		// The watch broke (lost leader): pause before trying again.
		pause := time.NewTimer(backoff.Policy{Initial: 50 * time.Millisecond}.Delay(0))
		defer pause.Stop()
		select {
		case <-pause.C:
		case <-wctx.Done():
		}
	}
	if wctx.Err() != nil {
		return q.waitErr(wctx, l, wctx.Err())
	}
	return nil
}

// wait blocks until the key created at rev holds; next is the first key
// (or prefix) to watch for a deletion.
//
// Each round registers the watch first and then checks: a deletion before
// the check is seen by the check, one after it by the watch. A watch that
// starts at a past revision instead would be served by etcd's catch-up
// loop, which runs every 100 ms, and every hand-off that raced the watch's
// creation would pay for it.
func (q *queue) wait(ctx context.Context, l *lease.Lease, key string, rev int64, next target) error {
	wctx, stop := q.bound(ctx, l, key, rev)
	defer stop()
	retry := backoff.New(backoff.Policy{Initial: 20 * time.Millisecond, Max: time.Second})
	for {
		w, err := q.watch(wctx, next)
		if err != nil {
			if wctx.Err() != nil {
				return q.waitErr(wctx, l, err)
			}
			if err := retry.Wait(wctx); err != nil { // watch refused (no leader): not in a tight loop
				return q.waitErr(wctx, l, err)
			}
			continue
		}
		held, t, err := q.check(wctx, l, key, rev)
		if err != nil || held || t != next {
			w.stop()
			if err != nil {
				return q.waitErr(wctx, l, err)
			}
			if held {
				return nil
			}
			next = t // someone else is nearest now: watch them instead
			continue
		}
		deleted := w.deleted(wctx)
		w.stop()
		if wctx.Err() != nil {
			return q.waitErr(wctx, l, wctx.Err())
		}
		if deleted {
			retry.Reset()
		} else if err := retry.Wait(wctx); err != nil { // the watch broke
			return q.waitErr(wctx, l, err)
		}
	}
}

// deletion is a registered watch for deletions of a target.
type deletion struct {
	ch   clientv3.WatchChan
	stop context.CancelFunc
}

// watch registers a watch for deletions of t from now on, and returns once
// etcd has confirmed it.
func (q *queue) watch(ctx context.Context, t target) (*deletion, error) {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	opts := []clientv3.OpOption{clientv3.WithCreatedNotify(), clientv3.WithFilterPut()}
	if t.prefix {
		opts = append(opts, clientv3.WithPrefix())
	}
	ch := q.s.cli.Watch(wctx, t.key, opts...)
	select {
	case resp, ok := <-ch:
		if ok && resp.Created && resp.Err() == nil {
			return &deletion{ch: ch, stop: cancel}, nil
		}
		cancel()
		if !ok {
			return nil, errors.New("watch closed before it was created")
		}
		if err := resp.Err(); err != nil {
			return nil, err
		}
		return nil, errors.New("watch not created")
	case <-ctx.Done():
		cancel()
		return nil, ctx.Err()
	}
}

// deleted waits for a deletion; false means the watch broke or ctx ended.
func (d *deletion) deleted(ctx context.Context) bool {
	for {
		select {
		case resp, ok := <-d.ch:
			if !ok || resp.Err() != nil || resp.Canceled {
				return false
			}
			if len(resp.Events) > 0 {
				return true
			}
		case <-ctx.Done():
			return false
		}
	}
}

// check asks whether the key created at rev holds yet, retrying reads that
// fail for transient reasons.
func (q *queue) check(ctx context.Context, l *lease.Lease, key string, rev int64) (bool, target, error) {
	cmps := append([]clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(key), "=", rev)}, q.conds...)
	els := append([]clientv3.Op{clientv3.OpGet(key)}, q.condOps...)
	retry := backoff.New(backoff.Policy{Initial: 20 * time.Millisecond, Max: time.Second})
	for {
		resp, err := q.s.cli.Txn(ctx).If(cmps...).Then(q.blockers(rev - 1)).Else(els...).Commit()
		if err != nil {
			if !etcderr.Transient(err) || ctx.Err() != nil {
				return false, target{}, err
			}
			if werr := retry.Wait(ctx); werr != nil {
				return false, target{}, werr
			}
			continue
		}
		if resp.Succeeded {
			held, t := q.turn(resp.Responses[0].GetResponseRange())
			return held, t, nil
		}
		if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) == 0 || kvs[0].CreateRevision != rev {
			return false, target{}, errorf("acquire", q.s.name, "%w: waiter key %s was deleted while waiting (lease %x expired or was revoked, or another client deleted the key)",
				ErrLeaseLost, key, int64(l.ID()))
		}
		if q.rejected != nil {
			if _, err := q.rejected(ctx, resp.Responses[1:]); err != nil {
				return false, target{}, err
			}
		}
	}
}

// bound derives a context that also ends, with an ErrLeaseLost
// cause, when l is lost or (for rev > 0) the waiter's own key created at
// rev is deleted: a waiter stops as soon as it cannot hold any more, not
// when its predecessors leave.
func (q *queue) bound(ctx context.Context, l *lease.Lease, key string, rev int64) (context.Context, func()) {
	wctx, cancel := context.WithCancelCause(ctx)
	// The lease is watched by a goroutine of its own, started first: etcd's
	// client can block inside Watch itself (while its stream cannot reach
	// the server), and the lease's loss must end the wait all the same.
	go func() {
		select {
		case <-l.Done():
			cancel(leaseLost(q.s.name, l))
		case <-wctx.Done():
		}
	}()
	if rev > 0 {
		go func() {
			own := watchresume.Watch(clientv3.WithRequireLeader(wctx), q.s.cli, watchresume.Range{Key: key}, rev, 0, clientv3.WithFilterPut())
			for resp := range own { // closed once wctx ends
				if resp.Err() != nil || resp.Canceled {
					return // broken: the checks still notice
				}
				if len(resp.Events) > 0 {
					cancel(errorf("acquire", q.s.name, "%w: waiter key %s was deleted while waiting (lease %x revoked, or another client deleted the key)",
						ErrLeaseLost, key, int64(l.ID())))
					return
				}
			}
		}()
	}
	return wctx, func() { cancel(nil) }
}

// waitErr says why waiting under wctx failed: the lease ended, the
// caller's context ended, or err.
func (q *queue) waitErr(wctx context.Context, l *lease.Lease, err error) error {
	if wctx.Err() != nil {
		cause := context.Cause(wctx)
		if errors.Is(cause, ErrLeaseLost) {
			return cause
		}
		return errorf("acquire", q.s.name, "waiting: %w", cause)
	}
	if errors.Is(err, ErrLeaseLost) || errors.Is(err, ErrLimitMismatch) {
		return err
	}
	if l.Err() != nil {
		return leaseLost(q.s.name, l)
	}
	return errorf("acquire", q.s.name, "waiting: %w", err)
}

// abandon removes a key this acquisition will not use. When the lease is
// gone the key goes with it and no request is made: a lost lease usually
// means etcd is unreachable, and the caller should hear of it at once.
func (q *queue) abandon(ctx context.Context, l *lease.Lease, f fence) {
	if l.Err() != nil {
		return
	}
	if ctx.Err() != nil { // the caller gave up; the cleanup is still due
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		ctx = cctx
	}
	_ = q.s.remove(ctx, f) // on failure it is owed and logged
}

// newNonce is the value an acquisition writes into its key, so that a
// create whose outcome is unknown can still be cleaned up by value.
func newNonce() string {
	b := make([]byte, 0, 32)
	b = strconv.AppendUint(b, rand.Uint64(), 16)
	b = strconv.AppendUint(b, rand.Uint64(), 16)
	return string(b)
}

// randomKey is a key under pfx for lease id that no other acquisition
// uses, for locks that allow several keys per lease.
func randomKey(pfx string, id clientv3.LeaseID) string {
	return fmt.Sprintf("%s%x-%016x", pfx, int64(id), rand.Uint64())
}
