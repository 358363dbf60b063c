package lock_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit/coordtest"
	"github.com/coordkit/coordkit/lease"
	"github.com/coordkit/coordkit/lock"
)

// requireCurrent checks that newer's key is still in etcd, untouched by an
// older holder's late Unlock, and that newer still holds.
func requireCurrent(t *testing.T, cli *clientv3.Client, newer *lock.Held) {
	t.Helper()
	resp, err := cli.Get(context.Background(), newer.Key())
	require.NoError(t, err)
	require.Len(t, resp.Kvs, 1, "newer holder's key %s deleted", newer.Key())
	require.Equal(t, newer.Token(), resp.Kvs[0].CreateRevision)
	require.NoError(t, newer.Err())
}

func TestLostWhenLeaseRevokedElsewhere(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t)
	cli := n.Client()
	ctx := ctxFor(t)
	a, b := newMutex(t, cli, "revoked", lock.WithTTL(2*time.Second)), newMutex(t, cli, "revoked")
	h, err := a.Lock(ctx)
	require.NoError(t, err)
	_ = h.Context()

	// `etcdctl lease revoke`, from another client.
	_, err = n.NewClient(t).Revoke(ctx, h.Lease().ID())
	require.NoError(t, err)
	lost := waitLost(t, h)
	require.ErrorIs(t, lost, lock.ErrLost)
	if !errors.Is(lost, lease.ErrExpired) && !errors.Is(lost, lock.ErrKeyDeleted) {
		t.Fatalf("unexpected cause: %v", lost)
	}

	hb, err := b.Lock(ctx)
	require.NoError(t, err)
	require.Greater(t, hb.Token(), h.Token())
	_, err = h.Do(ctx, clientv3.OpPut("x", "late"))
	require.ErrorIs(t, err, lock.ErrNotHeld)
	require.NoError(t, h.Unlock(ctx), "a late Unlock after a loss is harmless")
	requireCurrent(t, cli, hb)
	require.NoError(t, hb.Unlock(ctx))

	// The handle grants itself a new lease and locks again.
	h2, err := a.Lock(ctx)
	require.NoError(t, err)
	require.NotEqual(t, h.Lease().ID(), h2.Lease().ID())
	require.NoError(t, h2.Unlock(ctx))
}

// With a shared lease the newer holder's key has the very same name as the
// lost one's: only the create-revision fence tells them apart.
func TestLostWhenKeyDeleted(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t)
	cli := n.Client()
	ctx := ctxFor(t)
	l, err := lease.Grant(ctx, cli, 5*time.Second)
	require.NoError(t, err)
	defer l.Revoke(context.Background())
	a := newMutex(t, cli, "deleted", lock.WithLease(l))
	b := newMutex(t, cli, "deleted", lock.WithLease(l))
	h, err := a.Lock(ctx)
	require.NoError(t, err)
	_ = h.Context()

	_, err = cli.Delete(ctx, h.Key()) // `etcdctl del`
	require.NoError(t, err)
	lost := waitLost(t, h)
	require.ErrorIs(t, lost, lock.ErrLost)
	require.ErrorIs(t, lost, lock.ErrKeyDeleted)
	require.Regexp(t, `^lock: hold "deleted": lost: key deleted or replaced: deleted/[0-9a-f]+ deleted at revision \d+$`, lost.Error())
	require.NoError(t, l.Err(), "the lease lives on")

	hb, err := b.Lock(ctx)
	require.NoError(t, err)
	require.Equal(t, h.Key(), hb.Key())
	require.Greater(t, hb.Token(), h.Token())
	_, err = h.Do(ctx, clientv3.OpPut("x", "late"))
	require.ErrorIs(t, err, lock.ErrNotHeld)
	require.NoError(t, h.Unlock(ctx))
	requireCurrent(t, cli, hb)
	require.NoError(t, hb.Unlock(ctx))
}

// A holder whose link to etcd is blackholed past its TTL is told it lost
// the lock no later than the next holder gets it.
func TestLostWhenCutOffPastTTL(t *testing.T) {
	t.Parallel()
	n := coordtest.NewNode(t)
	link := n.NewLink(t)
	ctx := ctxFor(t)
	a := newMutex(t, link.Client(), "cut-off", lock.WithTTL(2*time.Second))
	b := newMutex(t, n.Client(), "cut-off")
	h, err := a.Lock(ctx)
	require.NoError(t, err)
	_ = h.Context()
	chB := async(func() (*lock.Held, error) { return b.Lock(ctx) })
	waitKeys(t, n.Client(), "cut-off/", 2)

	link.Blackhole()
	rb := await(t, chB)
	require.NoError(t, rb.err)
	select {
	case <-h.Done():
	default:
		t.Fatal("the next holder got the lock before the cut-off holder was told it lost it")
	}
	require.ErrorIs(t, h.Err(), lock.ErrLost)
	require.ErrorIs(t, h.Err(), lease.ErrDeadlinePassed)

	link.Unblackhole()
	err = eventually(t, func() error {
		_, err := h.Do(ctx, clientv3.OpPut("x", "late"))
		return err
	}, lock.ErrNotHeld)
	require.ErrorIs(t, err, lock.ErrNotHeld)
	require.NoError(t, eventually(t, func() error { return h.Unlock(ctx) }))
	requireCurrent(t, n.Client(), rb.h)
	require.NoError(t, rb.h.Unlock(ctx))
}

// The same, with the holder's member partitioned from the rest of a
// three-member cluster: its keep-alives cannot reach a leader.
func TestLostWhenMemberPartitioned(t *testing.T) {
	t.Parallel()
	c := coordtest.NewCluster(t, 3)
	ctx := ctxFor(t)
	p := (c.Leader() + 1) % 3 // a follower
	q := (p + 1) % 3
	a := newMutex(t, c.Member(p).Client(), "partitioned", lock.WithTTL(2*time.Second))
	b := newMutex(t, c.Member(q).Client(), "partitioned")
	h, err := a.Lock(ctx)
	require.NoError(t, err)
	_ = h.Context()
	chB := async(func() (*lock.Held, error) { return b.Lock(ctx) })
	waitKeys(t, c.Member(q).Client(), "partitioned/", 2)

	c.Partition(p)
	rb := await(t, chB)
	require.NoError(t, rb.err)
	select {
	case <-h.Done():
	default:
		t.Fatal("the next holder got the lock before the partitioned holder was told it lost it")
	}
	require.ErrorIs(t, h.Err(), lock.ErrLost)

	c.Heal()
	require.NoError(t, eventually(t, func() error { return h.Unlock(ctx) }))
	requireCurrent(t, c.Member(q).Client(), rb.h)
	require.NoError(t, rb.h.Unlock(ctx))
}

// waiterLease finds the lease of the waiter key that is not held's.
func waiterLease(t *testing.T, cli *clientv3.Client, pfx string, held *lock.Held) clientv3.LeaseID {
	t.Helper()
	resp, err := cli.Get(context.Background(), pfx, clientv3.WithPrefix())
	require.NoError(t, err)
	for _, kv := range resp.Kvs {
		if string(kv.Key) != held.Key() {
			return clientv3.LeaseID(kv.Lease)
		}
	}
	t.Fatal("no waiter key")
	return 0
}

func TestWaiterLeaseRevokedReturnsLeaseLost(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t)
	cli := n.Client()
	ctx := ctxFor(t)
	a, b := newMutex(t, cli, "waiter-revoked"), newMutex(t, cli, "waiter-revoked")
	h, err := a.Lock(ctx)
	require.NoError(t, err)
	ch := async(func() (*lock.Held, error) { return b.Lock(ctx) })
	waitKeys(t, cli, "waiter-revoked/", 2)
	_, err = n.NewClient(t).Revoke(ctx, waiterLease(t, cli, "waiter-revoked/", h))
	require.NoError(t, err)
	r := await(t, ch)
	require.ErrorIs(t, r.err, lock.ErrLeaseLost)
	require.Nil(t, r.h)
	require.NoError(t, h.Err(), "the holder is unaffected")
	require.Equal(t, []string{h.Key()}, keysUnder(t, cli, "waiter-revoked/"))

	// The same with a shared lease.
	l, err := lease.Grant(ctx, cli, 5*time.Second)
	require.NoError(t, err)
	c := newMutex(t, cli, "waiter-revoked", lock.WithLease(l))
	ch = async(func() (*lock.Held, error) { return c.Lock(ctx) })
	waitKeys(t, cli, "waiter-revoked/", 2)
	require.NoError(t, l.Revoke(ctx))
	r = await(t, ch)
	require.ErrorIs(t, r.err, lock.ErrLeaseLost)
	_, err = c.Lock(ctx)
	require.ErrorIs(t, err, lock.ErrLeaseLost, "a lost shared lease is not replaced")
	require.ErrorIs(t, err, lease.ErrRevoked)
	require.NoError(t, h.Unlock(ctx))
}

// A waiter cut off from etcd gives up when its own lease's deadline passes,
// not when its predecessor leaves (here: never).
func TestWaiterCutOffReturnsLeaseLost(t *testing.T) {
	t.Parallel()
	n := coordtest.NewNode(t)
	link := n.NewLink(t)
	ctx := ctxFor(t)
	a := newMutex(t, n.Client(), "waiter-cut")
	b := newMutex(t, link.Client(), "waiter-cut", lock.WithTTL(2*time.Second))
	h, err := a.Lock(ctx)
	require.NoError(t, err)
	ch := async(func() (*lock.Held, error) { return b.Lock(ctx) })
	waitKeys(t, n.Client(), "waiter-cut/", 2)
	// The waiter's key is in etcd; let the answer to its enqueue reach it
	// too (a later round trip on the same connection), so the cut finds it
	// waiting rather than with an enqueue of unknown outcome.
	_, err = link.Client().Get(ctx, "waiter-cut/")
	require.NoError(t, err)
	link.Blackhole()
	r := await(t, ch)
	require.ErrorIs(t, r.err, lock.ErrLeaseLost)
	require.ErrorIs(t, r.err, lease.ErrDeadlinePassed)
	require.NoError(t, h.Err())
	link.Unblackhole()
	// Its key expires with its lease; the holder never noticed any of it.
	waitKeys(t, n.Client(), "waiter-cut/", 1)
	require.NoError(t, h.Unlock(ctx))
}

// A loss already known when Err, Context or Lost is called is reported by
// that call, whether or not the hold's guard was running: a holder checking
// Err before touching a fenced resource is never told it still holds.
func TestKnownLossIsReportedByTheCall(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t)
	cli := n.Client()
	ctx := ctxFor(t)
	for _, first := range []string{"Err", "Context", "Lost", "Err after Context"} {
		t.Run(first, func(t *testing.T) {
			for round := range 10 {
				l, err := lease.Grant(ctx, cli, 5*time.Second)
				require.NoError(t, err)
				m := newMutex(t, cli, "known-loss", lock.WithLease(l))
				h, err := m.Lock(ctx)
				require.NoError(t, err)
				if first == "Err after Context" {
					require.NoError(t, h.Context().Err(), "the guard runs before the loss")
				}
				require.NoError(t, l.Revoke(ctx))
				<-h.Lease().Done() // the loss is known
				var reported bool
				switch first {
				case "Err", "Err after Context":
					reported = h.Err() != nil
				case "Context":
					reported = h.Context().Err() != nil
				case "Lost":
					select {
					case <-h.Done():
						reported = true
					default:
					}
				}
				require.True(t, reported, "round %d: a lost hold reported live", round)
				lost := h.Err()
				require.ErrorIs(t, lost, lock.ErrLost)
				if !errors.Is(lost, lease.ErrRevoked) && !errors.Is(lost, lock.ErrKeyDeleted) {
					t.Fatalf("unexpected cause: %v", lost)
				}
				require.NoError(t, m.Close(ctx))
			}
		})
	}
}
