package lock_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit/coordtest"
	"github.com/coordkit/coordkit/internal/etcderr"
	"github.com/coordkit/coordkit/lease"
	"github.com/coordkit/coordkit/lock"
)

func TestValidation(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t)
	cli := n.Client()
	_, err := lock.NewMutex(cli, "")
	require.ErrorIs(t, err, lock.ErrInvalidName)
	_, err = lock.NewMutex(cli, strings.Repeat("x", lock.MaxNameLen+1))
	require.ErrorIs(t, err, lock.ErrInvalidName)
	_, err = lock.NewMutex(nil, "a")
	require.ErrorIs(t, err, lock.ErrInvalidArgument)
	_, err = lock.NewMutex(cli, "a", lock.WithTTL(500*time.Millisecond))
	require.ErrorIs(t, err, lease.ErrInvalidTTL)
	require.Equal(t, `lock: new mutex "a": invalid lease TTL: WithTTL(500ms); use 1s or more (etcd counts lease time in whole seconds)`, err.Error())
	nilOpt, err := lock.NewMutex(cli, "a", nil) // a nil option is ignored, as in every coordkit package
	require.NoError(t, err)
	require.NoError(t, nilOpt.Close(context.Background()))
	_, err = lock.NewMutex(cli, "a", lock.WithLease(nil))
	require.ErrorIs(t, err, lock.ErrInvalidArgument)
	l, err := lease.Grant(context.Background(), cli, 5*time.Second)
	require.NoError(t, err)
	defer l.Revoke(context.Background())
	_, err = lock.NewMutex(cli, "a", lock.WithLease(l), lock.WithTTL(time.Second))
	require.ErrorIs(t, err, lock.ErrInvalidArgument)
	_, err = lock.NewRWMutex(cli, "")
	require.ErrorIs(t, err, lock.ErrInvalidName)
	_, err = lock.NewSemaphore(cli, "s", 0)
	require.ErrorIs(t, err, lock.ErrInvalidLimit)
	err = lock.Run(context.Background(), cli, "", func(context.Context, *lock.Held) error { return nil })
	require.ErrorIs(t, err, lock.ErrInvalidName)

	// A name at the limit works end to end.
	m := newMutex(t, cli, strings.Repeat("n", lock.MaxNameLen))
	h, err := m.Lock(context.Background())
	require.NoError(t, err)
	require.NoError(t, h.Unlock(context.Background()))
}

func TestLockUnlockTokensAndFencing(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t)
	cli := n.Client()
	ctx := ctxFor(t)
	m := newMutex(t, cli, "jobs/report")

	h1, err := m.Lock(ctx)
	require.NoError(t, err)
	require.Equal(t, fmt.Sprintf("jobs/report/%x", int64(h1.Lease().ID())), h1.Key(), "concurrency.Mutex's key layout")
	require.NoError(t, h1.Err())

	resp, err := h1.Do(ctx, clientv3.OpPut("report/owner", "me"), clientv3.OpGet("report/owner"))
	require.NoError(t, err)
	require.True(t, resp.Succeeded)
	require.Equal(t, "me", string(resp.Responses[1].GetResponseRange().Kvs[0].Value))

	// A nested fenced txn: the user's own condition inside the fence.
	tr, err := h1.Txn(ctx).If(clientv3.Compare(clientv3.Value("report/owner"), "=", "you")).
		Then(clientv3.OpPut("report/owner", "wrong")).Else(clientv3.OpGet("report/owner")).Commit()
	require.NoError(t, err)
	require.False(t, tr.Succeeded)
	require.Equal(t, "me", string(tr.Responses[0].GetResponseRange().Kvs[0].Value))
	require.NotNil(t, tr.Header)

	tok1 := h1.Token()
	require.NoError(t, h1.Unlock(ctx))
	require.NoError(t, h1.Unlock(ctx), "Unlock is idempotent")
	require.ErrorIs(t, h1.Err(), lock.ErrReleased)
	select {
	case <-h1.Done():
	default:
		t.Fatal("Lost not closed after Unlock")
	}
	_, err = h1.Do(ctx, clientv3.OpPut("report/owner", "late"))
	require.ErrorIs(t, err, lock.ErrNotHeld)

	h2, err := m.Lock(ctx)
	require.NoError(t, err)
	require.Greater(t, h2.Token(), tok1, "tokens increase")
	require.Equal(t, h1.Key(), h2.Key(), "same lease, same key")
	// The first hold's stale fence cannot touch the second hold.
	_, err = h1.Do(ctx, clientv3.OpPut("report/owner", "late"))
	require.ErrorIs(t, err, lock.ErrNotHeld)
	txn, err := cli.Txn(ctx).If(h1.IsOwner()).Then(clientv3.OpPut("report/owner", "late")).Commit()
	require.NoError(t, err)
	require.False(t, txn.Succeeded)
	require.NoError(t, h2.Unlock(ctx))
	require.Empty(t, keysUnder(t, cli, "jobs/report/"))

	require.NoError(t, m.Close(ctx))
	require.NoError(t, m.Close(ctx), "Close is idempotent")
	_, err = m.Lock(ctx)
	require.ErrorIs(t, err, lock.ErrClosed)
}

func TestTryLock(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t)
	cli := n.Client()
	ctx := ctxFor(t)
	a, b := newMutex(t, cli, "try"), newMutex(t, cli, "try")

	h, err := a.TryLock(ctx)
	require.NoError(t, err)
	_, err = b.TryLock(ctx)
	require.ErrorIs(t, err, lock.ErrLocked)
	_, err = a.TryLock(ctx)
	require.ErrorIs(t, err, lock.ErrLocked, "another goroutine of the same handle holds it")
	require.Equal(t, []string{h.Key()}, keysUnder(t, cli, "try/"), "a failed TryLock leaves no key")
	require.NoError(t, h.Unlock(ctx))
	hb, err := b.TryLock(ctx)
	require.NoError(t, err)
	require.Greater(t, hb.Token(), h.Token())
	require.NoError(t, hb.Unlock(ctx))
}

func TestLockWaitsInOrder(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t)
	cli := n.Client()
	ctx := ctxFor(t)
	a, b, c := newMutex(t, cli, "fifo"), newMutex(t, cli, "fifo"), newMutex(t, cli, "fifo")
	ha, err := a.Lock(ctx)
	require.NoError(t, err)
	chB := async(func() (*lock.Held, error) { return b.Lock(ctx) })
	waitKeys(t, cli, "fifo/", 2)
	chC := async(func() (*lock.Held, error) { return c.Lock(ctx) })
	waitKeys(t, cli, "fifo/", 3)
	notYet(t, chB)
	require.NoError(t, ha.Unlock(ctx))
	rb := await(t, chB)
	require.NoError(t, rb.err)
	notYet(t, chC)
	require.NoError(t, rb.h.Unlock(ctx))
	rc := await(t, chC)
	require.NoError(t, rc.err)
	require.Less(t, ha.Token(), rb.h.Token())
	require.Less(t, rb.h.Token(), rc.h.Token())
	require.NoError(t, rc.h.Unlock(ctx))
}

func TestCancelledLockRemovesWaiterKey(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t)
	cli := n.Client()
	ctx := ctxFor(t)
	a, b := newMutex(t, cli, "cancel"), newMutex(t, cli, "cancel")
	ha, err := a.Lock(ctx)
	require.NoError(t, err)
	wctx, cancel := context.WithCancel(ctx)
	ch := async(func() (*lock.Held, error) { return b.Lock(wctx) })
	waitKeys(t, cli, "cancel/", 2)
	cancel()
	r := await(t, ch)
	require.ErrorIs(t, r.err, context.Canceled)
	require.Equal(t, []string{ha.Key()}, keysUnder(t, cli, "cancel/"), "the waiter key is gone when Lock returns")
	// The handle works afterwards.
	require.NoError(t, ha.Unlock(ctx))
	hb, err := b.Lock(ctx)
	require.NoError(t, err)
	require.NoError(t, hb.Unlock(ctx))
}

// Goroutines sharing one handle take turns; the race detector checks that
// the handle's hand-over orders their memory accesses.
func TestHandleSharedByGoroutines(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t)
	cli := n.Client()
	ctx := ctxFor(t)
	m := newMutex(t, cli, "shared-handle")
	counter := 0 // deliberately unsynchronised but for the lock
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			for range 10 {
				h, err := m.Lock(ctx)
				if err != nil {
					errs <- err
					return
				}
				counter++
				if err := h.Unlock(ctx); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, 40, counter)
}

// Two handles on one lease would share concurrency.Mutex's key; here the
// second waits for the first instead of believing it holds.
func TestHandlesSharingALease(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t)
	cli := n.Client()
	ctx := ctxFor(t)
	l, err := lease.Grant(ctx, cli, 5*time.Second)
	require.NoError(t, err)
	defer l.Revoke(context.Background())
	a := newMutex(t, cli, "one-lease", lock.WithLease(l))
	b := newMutex(t, cli, "one-lease", lock.WithLease(l))
	ha, err := a.Lock(ctx)
	require.NoError(t, err)
	select {
	case <-l.Done():
		t.Fatal("lease lost")
	default:
	}
	_, err = b.TryLock(ctx)
	require.ErrorIs(t, err, lock.ErrLocked)
	ch := async(func() (*lock.Held, error) { return b.Lock(ctx) })
	notYet(t, ch)
	require.NoError(t, ha.Unlock(ctx))
	r := await(t, ch)
	require.NoError(t, r.err)
	require.Equal(t, ha.Key(), r.h.Key())
	require.Greater(t, r.h.Token(), ha.Token())
	// Closing a handle on a shared lease leaves the lease alone.
	require.NoError(t, a.Close(ctx))
	require.NoError(t, l.Err())
	require.NoError(t, r.h.Err())
	require.NoError(t, r.h.Unlock(ctx))
}

func TestDo(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t)
	cli := n.Client()
	ctx := ctxFor(t)
	var token int64
	err := lock.Run(ctx, cli, "do", func(ctx context.Context, held *lock.Held) error {
		token = held.Token()
		keys := keysUnder(t, cli, "do/")
		if len(keys) != 1 {
			return fmt.Errorf("keys %v", keys)
		}
		h := lock.HeldFrom(ctx)
		if h != held || h.Key() != keys[0] {
			return fmt.Errorf("HeldFrom gave %+v", h)
		}
		_, err := h.Do(ctx, clientv3.OpPut("do-result", "done"))
		return err
	}, lock.WithTTL(2*time.Second))
	require.NoError(t, err)
	require.Positive(t, token)
	require.Nil(t, lock.HeldFrom(ctx))
	got, err := cli.Get(ctx, "do-result")
	require.NoError(t, err)
	require.Equal(t, "done", string(got.Kvs[0].Value))
	require.Empty(t, keysUnder(t, cli, "do/"), "unlocked after")

	// fn's error comes back; the lock is released anyway.
	boom := fmt.Errorf("boom")
	err = lock.Run(ctx, cli, "do", func(context.Context, *lock.Held) error { return boom })
	require.ErrorIs(t, err, boom)
	require.Empty(t, keysUnder(t, cli, "do/"))

	// A loss cancels fn's context and is reported.
	err = lock.Run(ctx, cli, "do", func(fctx context.Context, _ *lock.Held) error {
		keys := keysUnder(t, cli, "do/")
		if _, err := cli.Delete(ctx, keys[0]); err != nil {
			return err
		}
		select {
		case <-fctx.Done():
			return context.Cause(fctx)
		case <-time.After(within):
			return fmt.Errorf("fn's context not cancelled on loss")
		}
	})
	require.ErrorIs(t, err, lock.ErrLost)
	require.ErrorIs(t, err, lock.ErrKeyDeleted)
}

// An Unlock that fails (etcd unreachable) leaves the key; retrying Unlock
// removes it, and so does the handle's next Lock if nobody retries.
func TestFailedUnlockIsFinishedLater(t *testing.T) {
	t.Parallel()
	n := coordtest.NewNode(t)
	link := n.NewLink(t)
	ctx := ctxFor(t)
	a := newMutex(t, link.Client(), "unlock-fails", lock.WithTTL(10*time.Second))
	b := newMutex(t, n.Client(), "unlock-fails")

	for _, retry := range []bool{true, false} {
		h, err := a.Lock(ctx)
		require.NoError(t, err)
		link.Blackhole()
		uctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		require.ErrorIs(t, h.Unlock(uctx), lock.ErrUnknownOutcome, "etcd is unreachable: the delete may have been applied")
		cancel()
		// The held Unlock is lost with the connection, as if it never
		// reached etcd (Unblackhole alone would deliver it late).
		link.DropConnections()
		link.Unblackhole()
		require.Equal(t, []string{h.Key()}, keysUnder(t, n.Client(), "unlock-fails/"), "the key is still there")
		_, err = b.TryLock(ctx)
		require.ErrorIs(t, err, lock.ErrLocked)

		if retry {
			require.NoError(t, eventually(t, func() error { return h.Unlock(ctx) }))
			require.Empty(t, keysUnder(t, n.Client(), "unlock-fails/"))
			continue
		}
		// Nobody retries: the handle's next Lock deletes the old key
		// (fenced on its revision) before queueing again.
		var h2 *lock.Held
		require.NoError(t, eventually(t, func() (err error) { h2, err = a.Lock(ctx); return err }))
		require.Greater(t, h2.Token(), h.Token())
		require.Equal(t, []string{h2.Key()}, keysUnder(t, n.Client(), "unlock-fails/"))
		require.NoError(t, h.Unlock(ctx), "the stale hold's Unlock does not touch the new hold")
		require.NoError(t, h2.Err())
		require.Equal(t, []string{h2.Key()}, keysUnder(t, n.Client(), "unlock-fails/"))
		require.NoError(t, h2.Unlock(ctx))
	}
}

// A Close that cannot reach etcd fails, and a later Close finishes the
// job: the lease is revoked and the lock key gone at once, rather than
// after the TTL.
func TestFailedCloseIsRetried(t *testing.T) {
	t.Parallel()
	n := coordtest.NewNode(t)
	link := n.NewLink(t)
	ctx := ctxFor(t)
	m, err := lock.NewMutex(link.Client(), "close-retry", lock.WithTTL(30*time.Second))
	require.NoError(t, err)
	h, err := m.Lock(ctx)
	require.NoError(t, err)

	link.Blackhole()
	cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	require.Error(t, m.Close(cctx))
	cancel()
	link.DropConnections() // the held revoke is lost, as if it never arrived
	link.Unblackhole()
	require.Equal(t, []string{h.Key()}, keysUnder(t, n.Client(), "close-retry/"), "the key waits for its 30 s lease")

	require.NoError(t, eventually(t, func() error { return m.Close(ctx) }))
	require.Empty(t, keysUnder(t, n.Client(), "close-retry/"))
	require.NoError(t, m.Close(ctx), "Close after a successful Close does nothing")
	_, err = m.Lock(ctx)
	require.ErrorIs(t, err, lock.ErrClosed)
}

// A fenced write on a closed client is never sent: it is reported as not
// applied, not as an outcome unknown.
func TestFencedWriteOnClosedClientIsNotSent(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t)
	ctx := ctxFor(t)
	cli := n.NewClient(t)
	m := newMutex(t, cli, "closed-client")
	h, err := m.Lock(ctx)
	require.NoError(t, err)
	require.NoError(t, cli.Close())

	_, err = h.Do(ctx, clientv3.OpPut("closed-client-result", "x"))
	require.Error(t, err)
	require.True(t, etcderr.Rejected(err), "not proven unsent: %v", err)
	require.ErrorIs(t, err, etcderr.ErrClientClosed)
	require.ErrorIs(t, err, lock.ErrRejected)
	got, err := n.Client().Get(ctx, "closed-client-result")
	require.NoError(t, err)
	require.Empty(t, got.Kvs)
}

// Unlock ends the hold as released: the hold's own watch may see the key's
// deletion before Unlock returns, and that must not pass for a loss.
func TestUnlockIsReportedAsReleasedNotLost(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t)
	ctx := ctxFor(t)
	m := newMutex(t, n.NewClient(t), "released") // over gRPC, where the race showed
	for i := range 300 {
		h, err := m.Lock(ctx)
		require.NoError(t, err)
		h.Context() // the watch that sees the deletion
		require.NoError(t, h.Unlock(ctx))
		require.ErrorIs(t, h.Err(), lock.ErrReleased, "iteration %d", i)
		require.ErrorIs(t, context.Cause(h.Context()), lock.ErrReleased, "iteration %d", i)
	}
}

// A Lock cancelled while its enqueue's answer is still on the way (the key
// is written, the caller has not heard so) deletes its waiter key before it
// returns, rather than leaving it queued until the handle's next Lock or
// Close, where it would block every other waiter once at the front.
func TestLockCancelledWhileEnqueueAnswerIsInFlightLeavesNoKey(t *testing.T) {
	t.Parallel()
	n := coordtest.NewNode(t)
	cli := n.Client()
	ctx := ctxFor(t)
	a := newMutex(t, cli, "inflight")
	ha, err := a.Lock(ctx)
	require.NoError(t, err)
	link := n.NewLink(t)
	b := newMutex(t, link.Client(), "inflight")
	_, err = b.TryLock(ctx) // grants b's lease before the link slows down
	require.ErrorIs(t, err, lock.ErrLocked)

	link.Delay(300*time.Millisecond, 0)
	wctx, cancel := context.WithCancel(ctx)
	ch := async(func() (*lock.Held, error) { return b.Lock(wctx) })
	waitKeys(t, cli, "inflight/", 2) // written; its answer is still delayed
	cancel()
	r := await(t, ch)
	require.ErrorIs(t, r.err, context.Canceled)
	require.Equal(t, []string{ha.Key()}, keysUnder(t, cli, "inflight/"), "the waiter key is gone when Lock returns")
	link.Undelay()

	require.NoError(t, ha.Unlock(ctx))
	hb, err := b.Lock(ctx)
	require.NoError(t, err)
	require.NoError(t, hb.Unlock(ctx))
}
