package lease_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"

	"github.com/coordkit/coordkit/coordtest"
	"github.com/coordkit/coordkit/lease"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func waitDone(t *testing.T, l *lease.Lease, within time.Duration) {
	t.Helper()
	select {
	case <-l.Done():
	case <-time.After(within):
		t.Fatalf("lease %x not reported lost within %v", l.ID(), within)
	}
}

func TestGrantValidatesAndRoundsTTL(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t)
	ctx := context.Background()
	_, err := lease.Grant(ctx, n.Client(), 999*time.Millisecond)
	require.ErrorIs(t, err, lease.ErrInvalidTTL)
	_, err = lease.Grant(ctx, n.Client(), -time.Second)
	require.ErrorIs(t, err, lease.ErrInvalidTTL)

	l, err := lease.Grant(ctx, n.Client(), 2100*time.Millisecond)
	require.NoError(t, err)
	require.Equal(t, 3*time.Second, l.TTL(), "TTLs round up to whole seconds")
	info, err := l.TimeToLive(ctx, false)
	require.NoError(t, err)
	require.Equal(t, 3*time.Second, info.GrantedTTL)
	require.Greater(t, info.Remaining, time.Duration(0))
}

func TestKeepAliveOutlivesTTLAndTimeToLiveListsKeys(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t)
	ctx := context.Background()
	cli := n.Client()
	l, err := lease.Grant(ctx, cli, time.Second)
	require.NoError(t, err)
	ctxKA, cancel := context.WithCancel(ctx)
	l.KeepAlive(ctxKA)
	l.KeepAlive(ctxKA) // second call is a no-op
	_, err = cli.Put(ctx, "foo1", "a", clientv3.WithLease(l.ID()))
	require.NoError(t, err)
	_, err = cli.Put(ctx, "foo2", "b", clientv3.WithLease(l.ID()))
	require.NoError(t, err)

	// Three TTLs later the lease and its keys are still there.
	expiry := time.Now().Add(3 * l.TTL())
	for time.Now().Before(expiry) {
		select {
		case <-l.Done():
			t.Fatalf("lease lost while kept alive: %v", l.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	info, err := l.TimeToLive(ctx, true)
	require.NoError(t, err)
	sort.Strings(info.Keys)
	require.Equal(t, []string{"foo1", "foo2"}, info.Keys)
	ids, err := lease.List(ctx, cli)
	require.NoError(t, err)
	require.Contains(t, ids, l.ID())

	cancel()
	waitDone(t, l, 5*time.Second)
	require.ErrorIs(t, l.Err(), context.Canceled)
}

// A lease revoked elsewhere is reported expired, and its loss is logged.
func TestRevokedElsewhereIsReportedExpired(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t)
	ctx := context.Background()
	var logs bytes.Buffer // written by the keep-alive before Done closes
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	l, err := lease.Grant(ctx, n.Client(), 3*time.Second, lease.WithLogger(log))
	require.NoError(t, err)
	l.KeepAlive(ctx)
	defer l.Close()
	_, err = n.NewClient(t).Revoke(ctx, l.ID()) // someone else, like `etcdctl lease revoke`
	require.NoError(t, err)
	waitDone(t, l, l.TTL()) // next renewal (TTL/3) finds it gone
	require.ErrorIs(t, l.Err(), lease.ErrExpired)
	require.Contains(t, logs.String(), fmt.Sprintf(`level=WARN msg="lease: lost" lease=%x`, int64(l.ID())))
}

func TestRevokeIsIdempotentAndDeletesKeys(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t)
	ctx := context.Background()
	cli := n.Client()
	l, err := lease.Grant(ctx, cli, 5*time.Second)
	require.NoError(t, err)
	l.KeepAlive(ctx)
	_, err = cli.Put(ctx, "k", "v", clientv3.WithLease(l.ID()))
	require.NoError(t, err)
	require.NoError(t, l.Revoke(ctx))
	require.NoError(t, l.Revoke(ctx))
	require.ErrorIs(t, l.Err(), lease.ErrRevoked)
	r, err := cli.Get(ctx, "k")
	require.NoError(t, err)
	require.Zero(t, r.Count)
	_, err = l.TimeToLive(ctx, false)
	require.ErrorIs(t, err, lease.ErrExpired)
	_, err = l.KeepAliveOnce(ctx)
	require.ErrorIs(t, err, lease.ErrExpired)
}

// A client cut off from etcd cannot renew: Done closes by the deadline
// counted from the last renewal's send time, and before etcd expires the
// lease.
func TestBlackholedKeepAliveReportsDeadlineBeforeServerExpiry(t *testing.T) {
	t.Parallel()
	n := coordtest.NewNode(t)
	link := n.NewLink(t)
	ctx := context.Background()
	l, err := lease.Grant(ctx, link.Client(), 2*time.Second)
	require.NoError(t, err)
	l.KeepAlive(ctx)
	defer l.Close()
	put, err := link.Client().Put(ctx, "held", "x", clientv3.WithLease(l.ID()))
	require.NoError(t, err)
	// The server's side of the story, seen from outside the cut link: the
	// key goes when etcd expires the lease.
	deleted := n.Client().Watch(ctx, "held", clientv3.WithRev(put.Header.Revision+1), clientv3.WithFilterPut())

	link.Blackhole()
	defer link.Unblackhole()
	select {
	case resp := <-deleted:
		require.NoError(t, resp.Err())
		// By the time etcd expired the lease, the holder must have been
		// told: loss is reported first, never after the fact.
		select {
		case <-l.Done():
		default:
			t.Fatal("etcd expired the lease before the lease handle reported it lost")
		}
	case <-time.After(5 * l.TTL()):
		t.Fatal("etcd did not expire the lease of a cut-off client")
	}
	require.ErrorIs(t, l.Err(), lease.ErrDeadlinePassed)
}

func TestOpenExistingLease(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t)
	ctx := context.Background()
	resp, err := n.Client().Grant(ctx, 7) // as `etcdctl lease grant 7` would
	require.NoError(t, err)
	l, err := lease.Open(ctx, n.Client(), resp.ID)
	require.NoError(t, err)
	require.Equal(t, 7*time.Second, l.TTL())
	require.True(t, l.Deadline().After(time.Now()))
	l.Close()
	l.Close()
	require.ErrorIs(t, l.Err(), lease.ErrClosed)

	_, err = lease.Open(ctx, n.Client(), clientv3.LeaseID(12345))
	require.ErrorIs(t, err, lease.ErrExpired)
}

// A Revoke that fails has still stopped the keep-alive, so the handle no
// longer backs the lease: Done must close (as after Close) rather than stay
// open past the point where etcd may expire the lease.
func TestFailedRevokeStillReportsLoss(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t)
	ctx := context.Background()
	l, err := lease.Grant(ctx, n.Client(), 2*time.Second)
	require.NoError(t, err)
	l.KeepAlive(ctx)
	defer l.Revoke(ctx)

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	require.Error(t, l.Revoke(cancelled))
	waitDone(t, l, 2*l.TTL())
	require.ErrorIs(t, l.Err(), lease.ErrClosed)
	require.ErrorIs(t, l.Err(), context.Canceled)

	// A retried Revoke still revokes the lease.
	require.NoError(t, l.Revoke(ctx))
	_, err = l.TimeToLive(ctx, false)
	require.ErrorIs(t, err, lease.ErrExpired)
}

// A lease kept alive through a client that is then closed is lost at once,
// with ErrClientStopped, rather than retrying "connection is closing" until
// its deadline: the loop ends with the client.
func TestKeepAliveEndsWhenItsClientCloses(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t)
	ctx := context.Background()
	cli := n.NewClient(t)
	l, err := lease.Grant(ctx, cli, 30*time.Second)
	require.NoError(t, err)
	l.KeepAlive(ctx)
	defer l.Close()
	require.NoError(t, cli.Close())
	waitDone(t, l, 10*time.Second) // well before the 30 s deadline
	require.ErrorIs(t, l.Err(), lease.ErrClientStopped)
}

// Context is cancelled with Err as its cause when the lease is lost, whether
// it was asked for before or after the loss, and not before.
func TestContextEndsWithTheLease(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t)
	ctx := context.Background()
	cli := n.Client()

	l, err := lease.Grant(ctx, cli, 5*time.Second)
	require.NoError(t, err)
	l.KeepAlive(ctx)
	defer l.Close()
	lctx := l.Context()
	require.Same(t, lctx, l.Context(), "one context per lease")
	require.NoError(t, lctx.Err())
	_, err = cli.Revoke(ctx, l.ID()) // revoked elsewhere: the keep-alive notices
	require.NoError(t, err)
	select {
	case <-lctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("lease context not cancelled after the lease was revoked")
	}
	require.ErrorIs(t, context.Cause(lctx), lease.ErrExpired)
	require.Equal(t, l.Err(), context.Cause(lctx))

	closed, err := lease.Grant(ctx, cli, 5*time.Second)
	require.NoError(t, err)
	closed.Close()
	require.ErrorIs(t, context.Cause(closed.Context()), lease.ErrClosed, "asked for after the loss: already cancelled")
	require.NoError(t, closed.Revoke(ctx))
}

// Grant and Revoke classify their failures as the recipes' writes do: not
// sent, because the context had ended or the client is closed, is a
// rejection (nothing changed, retry is safe), as for kv and fenced writes.
func TestGrantAndRevokeFailuresAreClassified(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t)
	ctx := context.Background()
	cli := n.NewClient(t)
	l, err := lease.Grant(ctx, cli, 5*time.Second)
	require.NoError(t, err)
	defer func() { _ = l.Revoke(ctx) }()

	timedOut, cancel := context.WithTimeout(ctx, time.Nanosecond)
	defer cancel()
	<-timedOut.Done()
	err = l.Revoke(timedOut)
	require.ErrorIs(t, err, lease.ErrRejected, "an ended context sends nothing: %v", err)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.NotErrorIs(t, err, lease.ErrUnknownOutcome)

	require.NoError(t, cli.Close())
	_, err = lease.Grant(ctx, cli, 5*time.Second)
	require.ErrorIs(t, err, lease.ErrRejected, "%v", err)
	require.NotErrorIs(t, err, lease.ErrUnknownOutcome)
	other, err := lease.Open(ctx, n.Client(), l.ID())
	require.NoError(t, err)
	err = l.Revoke(ctx)
	require.ErrorIs(t, err, lease.ErrRejected, "a revoke on a closed client is not sent: %v", err)
	require.NoError(t, other.Revoke(ctx), "and can be retried through an open client")
}
