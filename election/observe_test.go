package election_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit/coordtest"
	"github.com/coordkit/coordkit/election"
)

func leaderEvent(term *election.Term) election.Event {
	return election.Event{Leader: election.Leader{Key: term.Key(), Value: term.Value(), Token: term.Token()}}
}

// state drops the revision an event was read at.
func state(ev election.Event) election.Event {
	ev.Revision = 0
	return ev
}

// Observe reports the first state, every new leader, every proclaimed value
// and the vacant election, each once and in order.
func TestObserveSeesEveryChange(t *testing.T) {
	n := coordtest.NewServer(t)
	cli := n.Client()
	ctx := context.Background()
	e := newElection(t, cli, "e")
	events := e.Observe(t.Context())
	var lastRev int64
	next := func() election.Event {
		t.Helper()
		ev := recv(t, events)
		require.Greater(t, ev.Revision, lastRev)
		lastRev = ev.Revision
		return state(ev)
	}
	require.Equal(t, election.Event{Vacant: true}, next())

	a := campaign(t, e, "a")
	require.Equal(t, leaderEvent(a), next())
	require.NoError(t, a.Proclaim(ctx, "a2"))
	require.Equal(t, "a2", next().Leader.Value)

	// Waiting candidates change nothing an observer reports.
	bc := campaignAsync(t, ctx, e, "b")
	waitCandidates(t, cli, "e", 2)
	cc := campaignAsync(t, ctx, e, "c")
	waitCandidates(t, cli, "e", 3)
	require.NoError(t, a.Resign(ctx))
	b := recv(t, bc)
	require.NoError(t, b.err)
	require.Equal(t, leaderEvent(b.term), next(), "the next event is b's term, not a repeat")

	require.NoError(t, b.term.Proclaim(ctx, "b2"))
	require.Equal(t, leaderEvent(b.term), next())
	require.NoError(t, b.term.Resign(ctx))
	c := recv(t, cc)
	require.NoError(t, c.err)
	require.Equal(t, leaderEvent(c.term), next())

	// Nobody leads once the last candidate resigns.
	require.NoError(t, c.term.Resign(ctx))
	require.Equal(t, election.Event{Vacant: true}, next())
	requireBlocked(t, events)
}

// A reader that does not keep up still gets the latest state.
func TestObserveDeliversLatestToSlowReader(t *testing.T) {
	n := coordtest.NewServer(t)
	ctx := context.Background()
	e := newElection(t, n.Client(), "e")
	events := e.Observe(t.Context())
	a := campaign(t, e, "v0")
	for i := 1; i <= 50; i++ {
		require.NoError(t, a.Proclaim(ctx, fmt.Sprint("v", i)))
	}
	var prev election.Event
	for got := 0; prev.Leader.Value != "v50"; got++ {
		ev := recv(t, events)
		require.NotEqual(t, state(prev), state(ev), "a state is never repeated")
		require.Less(t, got, 52)
		prev = ev
	}
	requireBlocked(t, events)
}

// Observe stays open across a member crash and restart and a compaction of the
// revisions it missed, and reports the state it missed.
func TestObserveSurvivesRestartAndCompaction(t *testing.T) {
	t.Parallel()
	c := coordtest.NewCluster(t, 3)
	ctx := context.Background()
	obs := newElection(t, c.Member(0).Client(), "e")
	e := newElection(t, c.Member(1).Client(), "e")
	events := obs.Observe(t.Context())
	require.True(t, recv(t, events).Vacant)
	a := campaign(t, e, "a")
	require.Equal(t, leaderEvent(a), state(recv(t, events)))

	c.Member(0).Kill()
	bc := campaignAsync(t, ctx, e, "b")
	waitCandidates(t, c.Member(1).Client(), "e", 2)
	require.NoError(t, a.Resign(ctx))
	b := recv(t, bc)
	require.NoError(t, b.err)
	require.NoError(t, b.term.Proclaim(ctx, "b2"))
	resp, err := c.Member(1).Client().Get(ctx, "e/", clientv3.WithPrefix())
	require.NoError(t, err)
	_, err = c.Member(1).Client().Compact(ctx, resp.Header.Revision)
	require.NoError(t, err)
	c.Member(0).Restart()

	want := leaderEvent(b.term)
	for ev := recv(t, events); state(ev) != want; ev = recv(t, events) {
		require.NotEqual(t, leaderEvent(a), state(ev), "a is not reported twice")
	}
	require.NoError(t, b.term.Resign(ctx))
	require.True(t, recv(t, events).Vacant, "Observe goes on after the compaction")
}
