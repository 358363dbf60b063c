package keyguard_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"

	"github.com/coordkit/coordkit/coordtest"
	"github.com/coordkit/coordkit/internal/keyguard"
	"github.com/coordkit/coordkit/lease"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func setup(t *testing.T) (*coordtest.Node, *lease.Lease, int64) {
	n := coordtest.NewNode(t)
	ctx := context.Background()
	l, err := lease.Grant(ctx, n.Client(), 5*time.Second)
	require.NoError(t, err)
	l.KeepAlive(ctx)
	t.Cleanup(l.Close)
	resp, err := n.Client().Put(ctx, "owned", "x", clientv3.WithLease(l.ID()))
	require.NoError(t, err)
	return n, l, resp.Header.Revision
}

func cancelledWithin(t *testing.T, ctx context.Context) error {
	t.Helper()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-time.After(5 * time.Second):
		t.Fatal("guard not cancelled")
		return nil
	}
}

func TestGuardFiresOnDelete(t *testing.T) {
	n, l, rev := setup(t)
	ctx, cancel := keyguard.Guard(context.Background(), n.Client(), "owned", rev, l)
	defer cancel()
	_, err := n.Client().Put(context.Background(), "owned", "y", clientv3.WithIgnoreLease()) // an update is not a loss
	require.NoError(t, err)
	_, err = n.Client().Delete(context.Background(), "owned")
	require.NoError(t, err)
	require.ErrorIs(t, cancelledWithin(t, ctx), keyguard.ErrKeyGone)
}

func TestGuardSeesDeletionBeforeItStarted(t *testing.T) {
	n, l, rev := setup(t)
	_, err := n.Client().Delete(context.Background(), "owned")
	require.NoError(t, err)
	ctx, cancel := keyguard.Guard(context.Background(), n.Client(), "owned", rev, l)
	defer cancel()
	require.ErrorIs(t, cancelledWithin(t, ctx), keyguard.ErrKeyGone)
}

func TestGuardFiresOnLeaseLoss(t *testing.T) {
	n, l, rev := setup(t)
	ctx, cancel := keyguard.Guard(context.Background(), n.Client(), "owned", rev, l)
	defer cancel()
	_, err := n.NewClient(t).Revoke(context.Background(), l.ID())
	require.NoError(t, err)
	err = cancelledWithin(t, ctx)
	// Whichever is seen first: the lease's loss or the key's deletion.
	if !errors.Is(err, lease.ErrExpired) && !errors.Is(err, keyguard.ErrKeyGone) {
		t.Fatalf("unexpected cause %v", err)
	}
}

func TestGuardFollowsParentAndCancel(t *testing.T) {
	n, l, rev := setup(t)
	parent, stop := context.WithCancel(context.Background())
	ctx, cancel := keyguard.Guard(parent, n.Client(), "owned", rev, l)
	defer cancel()
	stop()
	require.ErrorIs(t, cancelledWithin(t, ctx), context.Canceled)
}

func TestGuardSurvivesCompaction(t *testing.T) {
	n, l, rev := setup(t)
	ctx, cancel := keyguard.Guard(context.Background(), n.Client(), "owned", rev, l)
	defer cancel()
	var last int64
	for range 10 {
		r, err := n.Client().Put(context.Background(), "other", "z")
		require.NoError(t, err)
		last = r.Header.Revision
	}
	_, err := n.Client().Compact(context.Background(), last)
	require.NoError(t, err)
	_, err = n.Client().Delete(context.Background(), "owned")
	require.NoError(t, err)
	require.ErrorIs(t, cancelledWithin(t, ctx), keyguard.ErrKeyGone)
}

// A guard on a member cut off from its cluster fires at the lease's local
// deadline, before the majority expires the lease and deletes the key, even
// though a read on the cut-off member blocks for etcd's request timeout.
func TestGuardFiresBeforeExpiryWhenPartitioned(t *testing.T) {
	c := coordtest.NewCluster(t, 3)
	ctx := context.Background()
	p := (c.Leader() + 1) % 3 // a follower
	cli := c.Member(p).Client()
	l, err := lease.Grant(ctx, cli, 2*time.Second)
	require.NoError(t, err)
	l.KeepAlive(ctx)
	t.Cleanup(l.Close)
	resp, err := cli.Put(ctx, "owned", "x", clientv3.WithLease(l.ID()))
	require.NoError(t, err)
	gctx, cancel := keyguard.Guard(ctx, cli, "owned", resp.Header.Revision, l)
	defer cancel()

	other := c.Member((p + 1) % 3).Client()
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	deleted := other.Watch(wctx, "owned", clientv3.WithRev(resp.Header.Revision+1), clientv3.WithFilterPut())

	c.Partition(p)
	defer c.Heal()
	select {
	case <-deleted:
	case <-time.After(20 * time.Second):
		t.Fatal("the majority never expired the lease")
	}
	select {
	case <-gctx.Done():
	default:
		t.Fatal("the key was expired by the majority before the cut-off guard fired")
	}
	require.ErrorIs(t, context.Cause(gctx), lease.ErrDeadlinePassed)
}

// A lease nobody keeps alive (a WithLease caller that never started
// KeepAlive) has no loop to close its Done at the deadline: the guard must
// still end by the lease's deadline, even when the client is cut off and
// cannot see etcd delete the key.
func TestGuardFiresAtDeadlineWithoutKeepAlive(t *testing.T) {
	n := coordtest.NewNode(t)
	link := n.NewLink(t)
	ctx := context.Background()
	l, err := lease.Grant(ctx, link.Client(), 2*time.Second)
	require.NoError(t, err)
	t.Cleanup(l.Close)
	resp, err := link.Client().Put(ctx, "owned", "x", clientv3.WithLease(l.ID()))
	require.NoError(t, err)
	gctx, cancel := keyguard.Guard(ctx, link.Client(), "owned", resp.Header.Revision, l)
	defer cancel()
	link.Blackhole()
	defer link.Unblackhole()
	select {
	case <-gctx.Done():
	case <-time.After(2 * l.TTL()):
		t.Fatalf("guard still live %v after the lease's deadline %v", time.Since(l.Deadline()), l.Deadline())
	}
	require.ErrorIs(t, context.Cause(gctx), lease.ErrDeadlinePassed)
	require.False(t, time.Now().Before(l.Deadline()), "fired before the deadline")
}

// A lease loss known when Guard or Check is called is reported at once, in
// the guard's context and in contexts derived from it.
func TestKnownLeaseLossIsReportedAtOnce(t *testing.T) {
	n, l, rev := setup(t)
	ctx, cancel := keyguard.Guard(context.Background(), n.Client(), "owned", rev, l)
	defer cancel()
	derived, stop := context.WithCancel(context.WithValue(ctx, struct{}{}, 1))
	defer stop()
	require.NoError(t, keyguard.Check(derived).Err())
	l.Close()
	<-l.Done()
	require.Error(t, keyguard.Check(derived).Err(), "a known loss must be reported by the call")
	require.ErrorIs(t, context.Cause(ctx), lease.ErrClosed)

	// A guard of a lease already lost is born cancelled.
	born, cancel2 := keyguard.Guard(context.Background(), n.Client(), "owned", rev, l)
	defer cancel2()
	require.ErrorIs(t, context.Cause(born), lease.ErrClosed)

	// Without a guard, Check changes nothing.
	plain := context.Background()
	require.Equal(t, plain, keyguard.Check(plain))
}
