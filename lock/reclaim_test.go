package lock_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit/coordtest"
	"github.com/coordkit/coordkit/lease"
	"github.com/coordkit/coordkit/lock"
)

// restart simulates a process that crashed while its lease lives on in
// etcd (its client is gone, nobody revoked the lease) and started again: a
// new client opens the same lease, as a process that saved its lease ID
// would.
func restart(t *testing.T, n *coordtest.Server, crashed *clientv3.Client, id clientv3.LeaseID) (*clientv3.Client, *lease.Lease) {
	t.Helper()
	require.NoError(t, crashed.Close())
	cli := n.NewClient(t)
	l, err := lease.Open(ctxFor(t), cli, id)
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Revoke(context.Background()) })
	return cli, l
}

// A process that restarts while it holds a Mutex takes it back at once,
// with the same fencing token, while another contender keeps waiting.
func TestReclaimAfterRestartWhileHolding(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t)
	ctx := ctxFor(t)
	old := n.NewClient(t)
	l, err := lease.Grant(ctx, old, 10*time.Second)
	require.NoError(t, err)
	h, err := newMutex(t, old, "reclaim-held", lock.WithLease(l)).Lock(ctx)
	require.NoError(t, err)
	other := newMutex(t, n.Client(), "reclaim-held")
	ch := async(func() (*lock.Held, error) { return other.Lock(ctx) })
	waitKeys(t, n.Client(), "reclaim-held/", 2)

	cli, reopened := restart(t, n, old, l.ID())
	h2, err := newMutex(t, cli, "reclaim-held", lock.WithLease(reopened)).Lock(ctx)
	require.NoError(t, err)
	require.Equal(t, h.Key(), h2.Key())
	require.Equal(t, h.Token(), h2.Token(), "the same hold, taken back")
	requireCurrent(t, n.Client(), h2)
	_, err = h2.Do(ctx, clientv3.OpPut("reclaim-held-data", "x"))
	require.NoError(t, err, "fenced writes pass")
	notYet(t, ch)

	require.NoError(t, h2.Unlock(ctx))
	r := await(t, ch)
	require.NoError(t, r.err)
	require.Greater(t, r.h.Token(), h2.Token())
	require.NoError(t, r.h.Unlock(ctx))
}

// A process that restarts while it waits in the queue resumes its place:
// it acquires after the holder ahead of it, before the contender behind it.
func TestReclaimAfterRestartWhileQueued(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t)
	ctx := ctxFor(t)
	holder, err := newMutex(t, n.Client(), "reclaim-queued").Lock(ctx)
	require.NoError(t, err)
	old := n.NewClient(t)
	l, err := lease.Grant(ctx, old, 10*time.Second)
	require.NoError(t, err)
	oldWait := async(func() (*lock.Held, error) {
		return newMutex(t, old, "reclaim-queued", lock.WithLease(l)).Lock(ctx)
	})
	queued := waitKeys(t, n.Client(), "reclaim-queued/", 2)[1]
	third := newMutex(t, n.Client(), "reclaim-queued")
	thirdWait := async(func() (*lock.Held, error) { return third.Lock(ctx) })
	waitKeys(t, n.Client(), "reclaim-queued/", 3)
	resp, err := n.Client().Get(ctx, queued)
	require.NoError(t, err)
	place := resp.Kvs[0].CreateRevision

	cli, reopened := restart(t, n, old, l.ID())
	require.Error(t, await(t, oldWait).err, "the crashed process's Lock ended with its client")
	resumed := newMutex(t, cli, "reclaim-queued", lock.WithLease(reopened))
	ch := async(func() (*lock.Held, error) { return resumed.Lock(ctx) })
	// Its place is kept: no key was added or removed.
	require.Equal(t, []string{holder.Key(), queued, keysUnder(t, n.Client(), "reclaim-queued/")[2]}, keysUnder(t, n.Client(), "reclaim-queued/"))
	notYet(t, ch)

	require.NoError(t, holder.Unlock(ctx))
	r := await(t, ch)
	require.NoError(t, r.err)
	require.Equal(t, queued, r.h.Key())
	require.Equal(t, place, r.h.Token(), "its own place, not a new one")
	notYet(t, thirdWait)
	require.NoError(t, r.h.Unlock(ctx))
	r3 := await(t, thirdWait)
	require.NoError(t, r3.err)
	require.NoError(t, r3.h.Unlock(ctx))
}

// The one contract for a caller's lease (see the lease package doc): the
// handle keeps it alive, never revokes it, and what is held on it ends with
// ErrLost, wrapping the lease's error, when it is lost. Without WithLease,
// Close revokes the handle's own lease.
func TestCallerLeaseContract(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t)
	cli := n.Client()
	ctx := ctxFor(t)
	l, err := lease.Grant(ctx, cli, 2*time.Second) // not kept alive by the caller
	require.NoError(t, err)
	granted := l.Deadline()
	m := newMutex(t, cli, "contract", lock.WithLease(l))
	h, err := m.Lock(ctx)
	require.NoError(t, err)
	// Kept alive by the handle: renewed (its deadline moves) and still
	// held after its first deadline.
	require.Eventually(t, func() bool { return l.Deadline().After(granted) }, within, 10*time.Millisecond)
	require.Eventually(t, func() bool { return time.Now().After(granted.Add(l.TTL())) }, within, 50*time.Millisecond)
	require.NoError(t, h.Err())
	require.NoError(t, h.Unlock(ctx))
	require.NoError(t, m.Close(ctx))
	require.NoError(t, l.Err(), "Close leaves the caller's lease alone")
	_, err = l.TimeToLive(ctx, false)
	require.NoError(t, err)

	m = newMutex(t, cli, "contract", lock.WithLease(l))
	h, err = m.Lock(ctx)
	require.NoError(t, err)
	require.NoError(t, l.Revoke(ctx))
	lost := waitLost(t, h)
	require.ErrorIs(t, lost, lock.ErrLost)
	require.ErrorIs(t, lost, lease.ErrRevoked)

	own := newMutex(t, cli, "contract-own")
	h, err = own.Lock(ctx)
	require.NoError(t, err)
	ownLease := h.Lease()
	require.NoError(t, own.Close(ctx))
	require.ErrorIs(t, ownLease.Err(), lease.ErrRevoked)
	_, err = lease.TimeToLive(ctx, cli, ownLease.ID(), false)
	require.ErrorIs(t, err, lease.ErrExpired, "Close revoked the handle's own lease")
}
