package election_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit/coordtest"
	"github.com/coordkit/coordkit/election"
	"github.com/coordkit/coordkit/lease"
)

// restart simulates a process that crashed while its lease lives on in
// etcd (its client is gone, nobody revoked the lease) and started again: a
// new client opens the same lease, as a process that saved its lease ID
// would.
func restart(t *testing.T, n *coordtest.Server, crashed *clientv3.Client, id clientv3.LeaseID) (*clientv3.Client, *lease.Lease) {
	t.Helper()
	require.NoError(t, crashed.Close())
	cli := n.NewClient(t)
	l, err := lease.Open(context.Background(), cli, id)
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Revoke(context.Background()) })
	return cli, l
}

// A leader that restarts resumes its leadership at once (same key, same
// Token, its new value), as etcd's ResumeElection does, while the next
// candidate keeps waiting.
func TestResumeAfterRestartWhileLeading(t *testing.T) {
	n := coordtest.NewServer(t)
	ctx := context.Background()
	old := n.NewClient(t)
	l, err := lease.Grant(ctx, old, 10*time.Second)
	require.NoError(t, err)
	term := campaign(t, newElection(t, old, "resume", election.WithLease(l)), "v1")
	next := campaignAsync(t, ctx, newElection(t, n.Client(), "resume"), "next")
	waitCandidates(t, n.Client(), "resume", 2)

	cli, reopened := restart(t, n, old, l.ID())
	e := newElection(t, cli, "resume", election.WithLease(reopened))
	resumed := campaign(t, e, "v2")
	require.Equal(t, term.Key(), resumed.Key())
	require.Equal(t, term.Token(), resumed.Token(), "the same term, taken back")
	leader, err := e.Leader(ctx)
	require.NoError(t, err)
	require.Equal(t, "v2", leader.Value, "the value is updated")
	require.Equal(t, resumed.Token(), leader.Token)
	require.NoError(t, resumed.Proclaim(ctx, "v3"))
	requireBlocked(t, next)

	require.NoError(t, resumed.Resign(ctx))
	r := recv(t, next)
	require.NoError(t, r.err)
	require.Greater(t, r.term.Token(), resumed.Token())
}

// A candidate that restarts while waiting resumes its place in line.
func TestResumeAfterRestartWhileWaiting(t *testing.T) {
	n := coordtest.NewServer(t)
	ctx := context.Background()
	leader := campaign(t, newElection(t, n.Client(), "resume-wait"), "leader")
	old := n.NewClient(t)
	l, err := lease.Grant(ctx, old, 10*time.Second)
	require.NoError(t, err)
	oldWait := campaignAsync(t, ctx, newElection(t, old, "resume-wait", election.WithLease(l)), "v1")
	waiting := waitCandidates(t, n.Client(), "resume-wait", 2)[1]
	third := campaignAsync(t, ctx, newElection(t, n.Client(), "resume-wait"), "third")
	keys := waitCandidates(t, n.Client(), "resume-wait", 3)
	resp, err := n.Client().Get(ctx, waiting)
	require.NoError(t, err)
	place := resp.Kvs[0].CreateRevision

	cli, reopened := restart(t, n, old, l.ID())
	require.Error(t, recv(t, oldWait).err, "the crashed process's Campaign ended with its client")
	resumed := campaignAsync(t, ctx, newElection(t, cli, "resume-wait", election.WithLease(reopened)), "v2")
	require.Equal(t, keys, waitCandidates(t, n.Client(), "resume-wait", 3), "its place is kept")
	requireBlocked(t, resumed)

	require.NoError(t, leader.Resign(ctx))
	r := recv(t, resumed)
	require.NoError(t, r.err)
	require.Equal(t, waiting, r.term.Key())
	require.Equal(t, place, r.term.Token())
	require.Equal(t, "v2", r.term.Value())
	requireBlocked(t, third)
	require.NoError(t, r.term.Resign(ctx))
	r3 := recv(t, third)
	require.NoError(t, r3.err)
}

// The one contract for a caller's lease (see the lease package doc): the
// election keeps it alive and never revokes it; a term on it ends with the
// lease's error when it is lost, and a waiting Campaign fails.
func TestCallerLeaseContract(t *testing.T) {
	n := coordtest.NewServer(t)
	cli := n.Client()
	ctx := context.Background()
	l, err := lease.Grant(ctx, cli, 2*time.Second) // not kept alive by the caller
	require.NoError(t, err)
	defer l.Close()
	granted := l.Deadline()
	e := newElection(t, cli, "contract", election.WithLease(l))
	term := campaign(t, e, "a")
	// Kept alive by the election: renewed, and leading past its first
	// deadline.
	require.Eventually(t, func() bool { return l.Deadline().After(granted) }, wait, 10*time.Millisecond)
	require.Eventually(t, func() bool { return time.Now().After(granted.Add(l.TTL())) }, wait, 50*time.Millisecond)
	require.NoError(t, term.Err())
	require.NoError(t, term.Resign(ctx))
	require.NoError(t, l.Err(), "Resign leaves the caller's lease alone")

	waiter, err := lease.Grant(ctx, cli, 5*time.Second)
	require.NoError(t, err)
	defer waiter.Close()
	term = campaign(t, e, "a")
	w := campaignAsync(t, ctx, newElection(t, cli, "contract", election.WithLease(waiter)), "w")
	waitCandidates(t, cli, "contract", 2)
	require.NoError(t, waiter.Revoke(ctx))
	r := recv(t, w)
	require.ErrorIs(t, r.err, election.ErrLeaseLost)
	// The cause is whichever the candidate heard of first: the revocation
	// (once Revoke returned) or its key's deletion (the revoke's event).
	require.True(t, errors.Is(r.err, lease.ErrRevoked) || strings.Contains(r.err.Error(), "deleted"), "%v", r.err)

	require.NoError(t, l.Revoke(ctx))
	recv(t, term.Done())
	require.ErrorIs(t, term.Err(), election.ErrLost)
	require.True(t, errors.Is(term.Err(), lease.ErrRevoked) || errors.Is(term.Err(), election.ErrKeyDeleted), "%v", term.Err())
}
