package lock

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit/internal/etcderr"
	"github.com/coordkit/coordkit/internal/keyguard"
	"github.com/coordkit/coordkit/internal/waitqueue"
	"github.com/coordkit/coordkit/lease"
)

// A queue is the etcd side of every lock in this package, and the layout
// of etcd's concurrency.Mutex: each acquisition puts a key under the lock's
// prefix, attached to a lease; keys are ordered by create revision; a key
// holds once the keys ahead of it that matter (all of them, for a mutex)
// are gone. Waiting is internal/waitqueue's, shared with election.
type queue struct {
	s *session

	// key names the key for an acquisition on lease id. A fixed key (a
	// Mutex's, as in etcd) found in etcd already is reclaimed: it was left
	// on the lease by an earlier process (see claim for handles of this
	// one). Other keys carry a random suffix and are simply redrawn.
	key      func(id clientv3.LeaseID) string
	fixedKey bool

	// blockers reads the keys that matter ahead of a key created after
	// maxRev. maxRev 0 means every key present: that read runs in the txn
	// that creates the key, before the put.
	blockers func(maxRev int64) clientv3.Op
	// turn decides from the blockers read whether the key holds and, if
	// not, which key (or prefix) to watch for a deletion.
	turn func(*pb.RangeResponse) (bool, waitqueue.Target)

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
		f, turn, err := q.enter(ctx, l, key, try)
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
		if f.rev == 0 {
			continue // a random key taken meanwhile, or a repaired condition: again
		}
		if !turn.Held {
			if try {
				q.abandon(ctx, l, f)
				return nil, errorf("try acquire", q.s.name, "%w", ErrLocked)
			}
			if err := q.wait(ctx, l, f, turn); err != nil {
				q.abandon(ctx, l, f)
				return nil, err
			}
		}
		// Never report an acquisition the lease may not back any more.
		if keyguard.LeaseLoss(l) != nil {
			q.abandon(ctx, l, f)
			return nil, leaseLost(q.s.name, l)
		}
		return newHeld(q.s, l, key, f.rev), nil
	}
}

// enter puts the acquisition's key unless it exists, reading what is ahead
// of it in the same txn, and returns its fence (rev 0: nothing entered,
// try again) and the turn that read gives. A fixed key that exists is
// reclaimed, keeping its place, unless another handle of this process on
// the same lease claims it: then enter waits for it to go (try: ErrLocked).
func (q *queue) enter(ctx context.Context, l *lease.Lease, key string, try bool) (fence, waitqueue.Turn, error) {
	pending := fence{l: l, key: key, nonce: newNonce()}
	claimed := q.fixedKey && q.s.o.shared
	if claimed {
		q.s.claim(pending, fence{})
	}
	resp, err := q.create(ctx, l, key, pending.nonce)
	if err != nil {
		if claimed && !q.s.owes(pending) {
			q.s.unclaim(pending)
		}
		return fence{}, waitqueue.Turn{}, err
	}
	if resp.Succeeded {
		f := fence{l: l, key: key, rev: resp.Header.Revision}
		if claimed {
			q.s.claim(f, pending)
		}
		held, next := q.turn(resp.Responses[0].GetResponseRange())
		return f, waitqueue.Turn{Held: held, Next: next, Rev: f.rev}, nil
	}
	defer q.s.unclaim(pending)
	if q.rejected != nil {
		if failed, err := q.rejected(ctx, resp.Responses[1:]); failed || err != nil {
			return fence{}, waitqueue.Turn{}, err
		}
	}
	kvs := resp.Responses[0].GetResponseRange().Kvs
	if len(kvs) == 0 || !q.fixedKey {
		return fence{}, waitqueue.Turn{}, nil // gone meanwhile, or a random key to redraw
	}
	f := fence{l: l, key: key, rev: kvs[0].CreateRevision}
	switch {
	case clientv3.LeaseID(kvs[0].Lease) != l.ID():
		return fence{}, waitqueue.Turn{}, errorf("acquire", q.s.name, "%w: key %s exists on lease %x, not on this handle's lease %x; this package did not write it: delete it",
			ErrLocked, key, kvs[0].Lease, int64(l.ID()))
	case claimed && q.s.claimedByOthers(pending):
		// Another handle sharing this lease holds or awaits the same lock.
		if try {
			return fence{}, waitqueue.Turn{}, errorf("try acquire", q.s.name, "%w: another handle on lease %x holds or awaits it", ErrLocked, int64(l.ID()))
		}
		return fence{}, waitqueue.Turn{}, q.waitErr(l, f, waitqueue.WaitGone(ctx, q.s.cli, l, key, f.rev, resp.Header.Revision))
	}
	// Reclaim: the key is this lease's, left by an earlier process.
	if claimed {
		q.s.claim(f, pending)
	}
	turn, err := q.check(ctx, l, key, f.rev)
	if err != nil {
		q.s.unclaim(f)
		if errors.As(err, new(keyGoneError)) {
			// Gone since the txn read it: another handle of this process
			// on the lease released it between that read and the claims
			// check (it unclaims once its deletion is applied). Nothing to
			// reclaim: enter again.
			return fence{}, waitqueue.Turn{}, nil
		}
		return fence{}, waitqueue.Turn{}, errorf("acquire", q.s.name, "reclaiming %s: %w", key, err)
	}
	return f, turn, nil
}

// keyGoneError is check's error when the waiter key no longer exists.
type keyGoneError struct{ error }

func (e keyGoneError) Unwrap() error { return e.error }

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
	f := fence{l: l, key: key, nonce: nonce}
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

// wait blocks until the key f names holds, starting from turn.
func (q *queue) wait(ctx context.Context, l *lease.Lease, f fence, turn waitqueue.Turn) error {
	w := waitqueue.Waiter{
		Cli: q.s.cli, Lease: l, Key: f.key, Rev: f.rev,
		Check: func(ctx context.Context) (waitqueue.Turn, error) { return q.check(ctx, l, f.key, f.rev) },
	}
	return q.waitErr(l, f, w.Wait(ctx, turn))
}

// waitErr explains why waiting for the key f names failed.
func (q *queue) waitErr(l *lease.Lease, f fence, err error) error {
	switch {
	case err == nil, errors.Is(err, ErrLeaseLost), errors.Is(err, ErrLimitMismatch):
		return err
	case errors.Is(err, keyguard.ErrKeyGone):
		return errorf("acquire", q.s.name, "%w: waiter key %s was deleted while waiting (lease %x revoked, or another client deleted the key): %w",
			ErrLeaseLost, f.key, int64(l.ID()), err)
	case errors.Is(err, waitqueue.ErrGone):
		return errorf("acquire", q.s.name, "%w: %w", ErrLeaseLost, err)
	}
	return errorf("acquire", q.s.name, "%w", err)
}

// check reads whether the key created at rev holds yet.
func (q *queue) check(ctx context.Context, l *lease.Lease, key string, rev int64) (waitqueue.Turn, error) {
	cmps := append([]clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(key), "=", rev)}, q.conds...)
	els := append([]clientv3.Op{clientv3.OpGet(key)}, q.condOps...)
	for {
		resp, err := q.s.cli.Txn(ctx).If(cmps...).Then(q.blockers(rev - 1)).Else(els...).Commit()
		if err != nil {
			return waitqueue.Turn{}, err
		}
		if resp.Succeeded {
			held, t := q.turn(resp.Responses[0].GetResponseRange())
			return waitqueue.Turn{Held: held, Next: t, Rev: resp.Header.Revision}, nil
		}
		if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) == 0 || kvs[0].CreateRevision != rev {
			return waitqueue.Turn{}, keyGoneError{errorf("acquire", q.s.name, "%w: waiter key %s was deleted while waiting (lease %x expired or was revoked, or another client deleted the key)",
				ErrLeaseLost, key, int64(l.ID()))}
		}
		if q.rejected != nil {
			if _, err := q.rejected(ctx, resp.Responses[1:]); err != nil {
				return waitqueue.Turn{}, err
			}
		}
	}
}

// abandon removes a key this acquisition will not use. When the lease is
// gone the key goes with it and no request is made: a lost lease usually
// means etcd is unreachable, and the caller should hear of it at once.
func (q *queue) abandon(ctx context.Context, l *lease.Lease, f fence) {
	if l.Err() != nil {
		q.s.unclaim(f)
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
