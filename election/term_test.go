package election_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coordkit/coordkit/coordtest"
	"github.com/coordkit/coordkit/election"
	"github.com/coordkit/coordkit/lease"
	"github.com/coordkit/coordkit/lock"
)

func TestTermLostWhenKeyDeleted(t *testing.T) {
	n := coordtest.NewServer(t)
	cli := n.Client()
	ctx := context.Background()
	e := newElection(t, cli, "e")
	a := campaign(t, e, "a")
	_, err := cli.Delete(ctx, a.Key())
	require.NoError(t, err)
	recv(t, a.Done())
	require.ErrorIs(t, a.Err(), election.ErrLost)
	require.ErrorIs(t, a.Err(), election.ErrKeyDeleted)
	require.ErrorIs(t, a.Err(), lock.ErrKeyDeleted, "one value in lock and election")
	require.Regexp(t, `^election: term "e": lost: key deleted or replaced: e/[0-9a-f]+ deleted at revision \d+$`, a.Err().Error())
	require.ErrorIs(t, a.Context().Err(), context.Canceled)
	err = a.Proclaim(ctx, "x")
	require.ErrorIs(t, err, election.ErrNotHeld)
	require.ErrorIs(t, err, election.ErrLost)
	require.NoError(t, a.Resign(ctx), "Resign after a loss just releases")
	require.Empty(t, candidates(t, cli, "e"), "Proclaim did not recreate the key")
}

func TestTermLostWhenLeaseRevoked(t *testing.T) {
	n := coordtest.NewServer(t)
	cli := n.Client()
	ctx := context.Background()
	e := newElection(t, cli, "e")
	a := campaign(t, e, "a")
	_, err := n.NewClient(t).Revoke(ctx, a.Lease().ID())
	require.NoError(t, err)
	recv(t, a.Done())
	err = a.Err()
	require.ErrorIs(t, err, election.ErrLost)
	// Whichever the guard saw first: the lease's loss or the key's deletion.
	if !errors.Is(err, lease.ErrExpired) && !errors.Is(err, election.ErrKeyDeleted) {
		t.Fatalf("unexpected cause %v", err)
	}
	require.NoError(t, a.Resign(ctx))
}

// A leader that can no longer renew its lease learns it has lost
// leadership by the lease's deadline, before etcd expires the lease, so
// that the next leader never overlaps with it.
func TestTermLostWhenLeaseCannotBeRenewed(t *testing.T) {
	t.Parallel()
	n := coordtest.NewNode(t)
	link := n.NewLink(t)
	e := newElection(t, link.Client(), "e", election.WithTTL(time.Second))
	a := campaign(t, e, "a")
	observer := newElection(t, n.Client(), "e")
	events := observer.Observe(t.Context())
	require.Equal(t, a.Key(), recv(t, events).Leader.Key)

	link.Blackhole()
	defer link.Unblackhole()
	recv(t, a.Done())
	require.ErrorIs(t, a.Err(), election.ErrLost)
	require.ErrorIs(t, a.Err(), lease.ErrDeadlinePassed)
	require.True(t, recv(t, events).Vacant, "the key expires with the lease")
}

// A Resign that fails keeps the term's state: leadership is given up at
// once, and a later Resign deletes the key.
func TestResignRetriesAfterError(t *testing.T) {
	t.Parallel()
	n := coordtest.NewNode(t)
	link := n.NewLink(t)
	ctx := context.Background()
	e := newElection(t, link.Client(), "e", election.WithTTL(30*time.Second))
	a := campaign(t, e, "a")

	link.Blackhole()
	rctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	err := a.Resign(rctx)
	cancel()
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.ErrorIs(t, a.Err(), election.ErrReleased, "leadership is given up before the key is deleted")
	ld, err := newElection(t, n.Client(), "e").Leader(ctx)
	require.NoError(t, err)
	require.Equal(t, a.Key(), ld.Key, "the key is still there")

	link.Unblackhole()
	// The blackhole may have broken the connection: retry until it is back.
	require.Eventually(t, func() bool {
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		return a.Resign(rctx) == nil
	}, wait, 10*time.Millisecond)
	_, err = e.Leader(ctx)
	require.ErrorIs(t, err, election.ErrNoLeader)
	require.NoError(t, a.Resign(ctx))
}

// Resign is fenced on the term's revision: it never deletes a later
// term's key, even one under the same lease.
func TestResignIsFenced(t *testing.T) {
	n := coordtest.NewServer(t)
	cli := n.Client()
	ctx := context.Background()
	l, err := lease.Grant(ctx, cli, 10*time.Second)
	require.NoError(t, err)
	l.KeepAlive(ctx)
	defer l.Close()
	e := newElection(t, cli, "e", election.WithLease(l))
	a := campaign(t, e, "a")
	// Someone deletes the key; a new term is elected under the same lease
	// before the old one's Resign.
	_, err = cli.Delete(ctx, a.Key())
	require.NoError(t, err)
	recv(t, a.Done())
	b := campaign(t, e, "b")
	require.Equal(t, a.Key(), b.Key())
	require.Greater(t, b.Token(), a.Token())
	require.NoError(t, a.Resign(ctx))
	require.NoError(t, b.Err())
	ld, err := e.Leader(ctx)
	require.NoError(t, err)
	require.Equal(t, b.Token(), ld.Token)
}

// A loss of the lease already known when Err, Context or Done is called is
// reported by that call, not a moment later when the guard has run.
func TestKnownLeaseLossIsReportedByTheCall(t *testing.T) {
	n := coordtest.NewServer(t)
	cli := n.Client()
	ctx := context.Background()
	for _, first := range []string{"Err", "Context", "Done"} {
		t.Run(first, func(t *testing.T) {
			for round := range 10 {
				l, err := lease.Grant(ctx, cli, 5*time.Second)
				require.NoError(t, err)
				l.KeepAlive(context.Background())
				e := newElection(t, cli, "known-loss", election.WithLease(l))
				a := campaign(t, e, "a")
				require.NoError(t, l.Revoke(ctx))
				<-l.Done() // the loss is known
				var reported bool
				switch first {
				case "Err":
					reported = a.Err() != nil
				case "Context":
					reported = a.Context().Err() != nil
				case "Done":
					select {
					case <-a.Done():
						reported = true
					default:
					}
				}
				require.True(t, reported, "round %d: a lost term reported live", round)
				require.ErrorIs(t, a.Err(), election.ErrLost)
				require.NoError(t, a.Resign(ctx))
			}
		})
	}
}
