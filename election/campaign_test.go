package election_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit/coordtest"
	"github.com/coordkit/coordkit/election"
	"github.com/coordkit/coordkit/lease"
)

// A candidate whose lease is revoked while it waits gets an error, never a
// Term, even when the leader resigns right after.
func TestCampaignLeaseRevokedWhileWaiting(t *testing.T) {
	n := coordtest.NewServer(t)
	cli := n.Client()
	ctx := context.Background()
	e := newElection(t, cli, "e", election.WithTTL(30*time.Second))
	a := campaign(t, e, "a")
	bc := campaignAsync(t, ctx, e, "b")
	keys := waitCandidates(t, cli, "e", 2)

	_, err := n.NewClient(t).Revoke(ctx, leaseOf(t, keys[1]))
	require.NoError(t, err)
	require.NoError(t, a.Resign(ctx))

	r := recv(t, bc)
	require.ErrorIs(t, r.err, election.ErrLeaseLost)
	require.Nil(t, r.term)
	_, err = e.Leader(ctx)
	require.ErrorIs(t, err, election.ErrNoLeader)
}

// A candidate whose key is deleted while it waits (its lease still alive)
// gets an error and gives its lease back.
func TestCampaignKeyDeletedWhileWaiting(t *testing.T) {
	n := coordtest.NewServer(t)
	cli := n.Client()
	ctx := context.Background()
	e := newElection(t, cli, "e")
	a := campaign(t, e, "a")
	bc := campaignAsync(t, ctx, e, "b")
	keys := waitCandidates(t, cli, "e", 2)
	_, err := cli.Delete(ctx, keys[1])
	require.NoError(t, err)

	r := recv(t, bc)
	require.ErrorIs(t, r.err, election.ErrLeaseLost)
	require.Nil(t, r.term)
	_, err = lease.TimeToLive(ctx, cli, leaseOf(t, keys[1]), false)
	require.ErrorIs(t, err, lease.ErrExpired, "the withdrawn campaign revoked its lease")
	require.NoError(t, a.Err())
}

// A cancelled Campaign withdraws: its key and lease are gone, and later
// candidates are not stuck behind it.
func TestCampaignCancelWithdraws(t *testing.T) {
	n := coordtest.NewServer(t)
	cli := n.Client()
	ctx := context.Background()
	e := newElection(t, cli, "e")
	a := campaign(t, e, "a")
	cctx, cancel := context.WithCancel(ctx)
	bc := campaignAsync(t, cctx, e, "b")
	keys := waitCandidates(t, cli, "e", 2)
	cancel()
	r := recv(t, bc)
	require.ErrorIs(t, r.err, context.Canceled)
	require.Equal(t, keys[:1], candidates(t, cli, "e"))

	cc := campaignAsync(t, ctx, e, "c")
	waitCandidates(t, cli, "e", 2)
	require.NoError(t, a.Resign(ctx))
	c := recv(t, cc)
	require.NoError(t, c.err)
	require.Equal(t, "c", c.term.Value())
	require.NoError(t, c.term.Resign(ctx))
}

// With WithLease, campaigns share the caller's lease and never end it; a
// second Campaign of this process on the same lease and election waits for
// the first term to end, as any other candidate would; losing the lease ends
// the term.
func TestSharedLease(t *testing.T) {
	n := coordtest.NewServer(t)
	cli := n.Client()
	ctx := context.Background()
	l, err := lease.Grant(ctx, cli, 5*time.Second)
	require.NoError(t, err)
	l.KeepAlive(ctx)
	defer l.Close()
	e := newElection(t, cli, "e", election.WithLease(l))
	other := newElection(t, cli, "other", election.WithLease(l))

	a := campaign(t, e, "a")
	require.Equal(t, l.ID(), a.Lease().ID())
	o := campaign(t, other, "o") // one lease, two elections
	dup := campaignAsync(t, ctx, e, "dup")
	// The second campaign is under way (it has read the key) before a
	// resigns: a watch opened now and a read find nothing returned.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	<-cli.Watch(wctx, a.Key(), clientv3.WithCreatedNotify())
	_, err = cli.Get(ctx, a.Key())
	require.NoError(t, err)
	requireBlocked(t, dup)
	require.NoError(t, a.Err(), "a waiting duplicate does not disturb the term")

	require.NoError(t, a.Resign(ctx))
	d := recv(t, dup)
	require.NoError(t, d.err)
	require.Equal(t, a.Key(), d.term.Key())
	require.Greater(t, d.term.Token(), a.Token(), "a new term, not the resigned one")
	require.NoError(t, d.term.Resign(ctx))
	require.NoError(t, l.Err(), "Resign leaves a shared lease alive")
	require.NoError(t, o.Err())
	info, err := l.TimeToLive(ctx, true)
	require.NoError(t, err)
	require.Equal(t, []string{o.Key()}, info.Keys)

	a = campaign(t, e, "a again")
	require.NoError(t, l.Revoke(ctx))
	for _, term := range []*election.Term{a, o} {
		recv(t, term.Done())
		require.ErrorIs(t, term.Err(), election.ErrLost)
	}
	_, err = e.Campaign(ctx, "after")
	require.ErrorIs(t, err, election.ErrLeaseLost)
	require.ErrorIs(t, err, lease.ErrRevoked)
}
