package waitqueue_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"

	"github.com/coordkit/coordkit/coordtest"
	"github.com/coordkit/coordkit/internal/waitqueue"
	"github.com/coordkit/coordkit/lease"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func grant(t *testing.T, cli *clientv3.Client, ttl time.Duration) *lease.Lease {
	t.Helper()
	l, err := lease.Grant(context.Background(), cli, ttl)
	require.NoError(t, err)
	l.KeepAlive(context.Background())
	t.Cleanup(l.Close)
	return l
}

func wait(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("wait did not return")
		return nil
	}
}

// A key deleted after it was read but before the watch began is not
// missed: the watch starts at the current revision, and the store having
// moved past the read, one more read closes the gap.
func TestDeletionBeforeTheWatchStartsIsSeen(t *testing.T) {
	n := coordtest.NewServer(t)
	cli := n.Client()
	ctx := context.Background()
	l := grant(t, cli, 5*time.Second)
	put, err := cli.Put(ctx, "q/older", "x")
	require.NoError(t, err)
	read := put.Header.Revision
	_, err = cli.Delete(ctx, "q/older")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- waitqueue.WaitGone(ctx, cli, l, "q/older", put.Header.Revision, read) }()
	require.NoError(t, wait(t, done))
}

// A watch that starts after unrelated writes keeps waiting for the key, and
// returns once it is deleted.
func TestWaitsForTheKey(t *testing.T) {
	n := coordtest.NewServer(t)
	cli := n.Client()
	ctx := context.Background()
	l := grant(t, cli, 5*time.Second)
	put, err := cli.Put(ctx, "q/older", "x")
	require.NoError(t, err)
	_, err = cli.Put(ctx, "unrelated", "y")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- waitqueue.WaitGone(ctx, cli, l, "q/older", put.Header.Revision, put.Header.Revision) }()
	// Our own watch, opened after the waiter's, is set up, and a read made:
	// the waiter has had its chance to return early by mistake.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	<-cli.Watch(wctx, "q/older", clientv3.WithCreatedNotify())
	_, err = cli.Get(ctx, "q/older")
	require.NoError(t, err)
	select {
	case err := <-done:
		t.Fatalf("returned while the key exists: %v", err)
	default:
	}
	_, err = cli.Delete(ctx, "q/older")
	require.NoError(t, err)
	require.NoError(t, wait(t, done))
}

// The waiter's lease lost while its client is cut off ends the wait on
// time, although every etcd call the wait makes blocks: the loss is the
// lease's deadline passing, well before etcd's request timeout.
func TestLeaseLossEndsAWaitWhoseCallsBlock(t *testing.T) {
	n := coordtest.NewNode(t)
	link := n.NewLink(t)
	ctx := context.Background()
	cli := link.Client()
	l := grant(t, cli, 2*time.Second)
	ahead, err := n.Client().Put(ctx, "q/ahead", "x")
	require.NoError(t, err)
	own, err := cli.Put(ctx, "q/own", "y", clientv3.WithLease(l.ID()))
	require.NoError(t, err)
	w := waitqueue.Waiter{
		Cli: cli, Lease: l, Key: "q/own", Rev: own.Header.Revision,
		Check: func(ctx context.Context) (waitqueue.Turn, error) {
			resp, err := cli.Get(ctx, "q/ahead")
			if err != nil {
				return waitqueue.Turn{}, err
			}
			return waitqueue.Turn{Held: len(resp.Kvs) == 0, Next: waitqueue.Target{Key: "q/ahead"}, Rev: resp.Header.Revision}, nil
		},
	}
	link.Blackhole()
	start := time.Now()
	done := make(chan error, 1)
	go func() {
		done <- w.Wait(ctx, waitqueue.Turn{Next: waitqueue.Target{Key: "q/ahead"}, Rev: ahead.Header.Revision})
	}()
	err = wait(t, done)
	require.ErrorIs(t, err, waitqueue.ErrGone)
	require.ErrorIs(t, err, lease.ErrDeadlinePassed)
	t.Logf("ended %v after the cut (lease TTL %v): %v", time.Since(start), l.TTL(), err)
	link.Unblackhole()
}

// Claims tell this process's other acquisitions on a lease handle from a
// restart, which opens the lease again as a new handle.
func TestClaims(t *testing.T) {
	n := coordtest.NewServer(t)
	l := grant(t, n.Client(), 5*time.Second)
	reopened, err := lease.Open(context.Background(), n.Client(), l.ID())
	require.NoError(t, err)
	a, b := new(byte), new(byte)
	waitqueue.Claim(l, "k", a, nil)
	require.False(t, waitqueue.ClaimedByOthers(l, "k", a))
	require.True(t, waitqueue.ClaimedByOthers(l, "k", b))
	require.False(t, waitqueue.ClaimedByOthers(reopened, "k", b), "another handle on the lease is a new owner")
	require.False(t, waitqueue.ClaimedByOthers(l, "other", b))
	waitqueue.Claim(l, "k", "a, now known better", a)
	require.False(t, waitqueue.ClaimedByOthers(l, "k", "a, now known better"))
	waitqueue.Unclaim(l, "k", "a, now known better")
	waitqueue.Unclaim(l, "k", "a, now known better")
	require.False(t, waitqueue.ClaimedByOthers(l, "k", b))
}
