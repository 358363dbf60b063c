package election_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit/coordtest"
	"github.com/coordkit/coordkit/election"
	"github.com/coordkit/coordkit/lease"
)

// runner runs election.Run in the background and records its callbacks.
type runner struct {
	elected chan *election.Term // each OnElected's term
	demoted chan struct{}
	changes chan election.Event
	done    chan error

	mu  sync.Mutex
	log []string // "elected" and "demoted", in call order
}

func startRun(t *testing.T, ctx context.Context, cli *clientv3.Client, name, value string, opts ...election.RunnerOption) *runner {
	r := &runner{
		elected: make(chan *election.Term, 100),
		demoted: make(chan struct{}, 100),
		changes: make(chan election.Event, 1000),
		done:    make(chan error, 1),
	}
	ctx, cancel := context.WithCancel(ctx)
	cb := election.Callbacks{
		OnElected: func(ctx context.Context, term *election.Term) {
			r.record("elected")
			r.elected <- term
			<-ctx.Done()
		},
		OnDemoted: func() {
			r.record("demoted")
			r.demoted <- struct{}{}
		},
		OnLeaderChange: func(ev election.Event) { r.changes <- ev },
	}
	go func() { r.done <- election.Run(ctx, cli, name, value, cb, opts...) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(wait):
			t.Errorf("Run did not return after its context ended")
		}
	})
	return r
}

func (r *runner) record(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.log = append(r.log, s)
}

func (r *runner) calls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.log...)
}

// waitChange waits until OnLeaderChange reports a state satisfying ok.
func (r *runner) waitChange(t *testing.T, ok func(election.Event) bool) election.Event {
	t.Helper()
	for {
		if ev := recv(t, r.changes); ok(ev) {
			return ev
		}
	}
}

// Run leads again after its lease is revoked from outside, with a new
// lease, and calls OnDemoted exactly once in between.
func TestRunSurvivesLeaseLoss(t *testing.T) {
	n := coordtest.NewServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := startRun(t, ctx, n.Client(), "e", "me", election.WithTTL(30*time.Second))

	first := recv(t, r.elected)
	r.waitChange(t, func(ev election.Event) bool { return ev.Leader.Token == first.Token() })
	_, err := n.NewClient(t).Revoke(ctx, first.Lease().ID())
	require.NoError(t, err)
	recv(t, r.demoted)
	require.ErrorIs(t, first.Err(), election.ErrLost)

	second := recv(t, r.elected)
	require.Greater(t, second.Token(), first.Token())
	require.NotEqual(t, first.Lease().ID(), second.Lease().ID(), "a new lease replaces the lost one")
	r.waitChange(t, func(ev election.Event) bool { return ev.Leader.Token == second.Token() })

	cancel()
	require.ErrorIs(t, recv(t, r.done), context.Canceled)
	r.done <- nil // for the cleanup
	require.Equal(t, []string{"elected", "demoted", "elected", "demoted"}, r.calls())
	require.ErrorIs(t, second.Err(), election.ErrReleased)
	_, err = newElection(t, n.Client(), "e").Leader(context.Background())
	require.ErrorIs(t, err, election.ErrNoLeader, "Run resigned when its context ended")
}

// When the leading Run stops, it resigns: the next candidate takes over
// without waiting for the lease to expire. A Run that never led never
// calls OnDemoted.
func TestRunHandsOverOnStopAndDemotesOnlyLeaders(t *testing.T) {
	n := coordtest.NewServer(t)
	ctx := context.Background()
	ttl := election.WithTTL(60 * time.Second) // far beyond the test's deadlines
	actx, stopA := context.WithCancel(ctx)
	a := startRun(t, actx, n.Client(), "e", "a", ttl)
	ta := recv(t, a.elected)
	b := startRun(t, ctx, n.Client(), "e", "b", ttl)
	bctx, stopC := context.WithCancel(ctx)
	c := startRun(t, bctx, n.Client(), "e", "c", ttl)
	waitCandidates(t, n.Client(), "e", 3)
	stopC()
	require.ErrorIs(t, recv(t, c.done), context.Canceled)
	c.done <- nil
	require.Empty(t, c.calls(), "c never led: no OnElected, no OnDemoted")

	stopA()
	require.ErrorIs(t, recv(t, a.done), context.Canceled)
	a.done <- nil
	require.Equal(t, []string{"elected", "demoted"}, a.calls())
	require.ErrorIs(t, ta.Err(), election.ErrReleased)

	tb := recv(t, b.elected)
	require.Greater(t, tb.Token(), ta.Token())
	// b's observer saw a lead, then b.
	b.waitChange(t, func(ev election.Event) bool { return ev.Leader.Value == "a" })
	b.waitChange(t, func(ev election.Event) bool { return ev.Leader.Value == "b" })
}

// An OnElected that resigns steps down; Run campaigns again.
func TestRunRecampaignsAfterResign(t *testing.T) {
	n := coordtest.NewServer(t)
	ctx := context.Background()
	var terms []int64
	elected := make(chan int64)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- election.Run(runCtx, n.Client(), "e", "v", election.Callbacks{
			OnElected: func(ctx context.Context, term *election.Term) {
				require.NoError(t, term.Resign(ctx))
				elected <- term.Token()
			},
		})
	}()
	for range 3 {
		terms = append(terms, recv(t, elected))
	}
	cancel()
	require.ErrorIs(t, recv(t, done), context.Canceled)
	require.Less(t, terms[0], terms[1])
	require.Less(t, terms[1], terms[2])
}

// Run with a shared lease stops when that lease is lost: it cannot grant
// itself another.
func TestRunWithLostSharedLeaseReturns(t *testing.T) {
	n := coordtest.NewServer(t)
	ctx := context.Background()
	l, err := lease.Grant(ctx, n.Client(), 5*time.Second)
	require.NoError(t, err)
	l.KeepAlive(ctx)
	r := startRun(t, ctx, n.Client(), "e", "v", election.WithLease(l))
	term := recv(t, r.elected)
	require.Equal(t, l.ID(), term.Lease().ID())
	require.NoError(t, l.Revoke(ctx))
	recv(t, r.demoted)
	err = recv(t, r.done)
	require.ErrorIs(t, err, election.ErrLeaseLost)
	require.ErrorIs(t, err, lease.ErrRevoked)
	require.Equal(t, 1, strings.Count(err.Error(), "election: "), "the prefix once: %q", err)
	r.done <- nil
}

// A resignation that fails (etcd unreachable) is retried before Run
// campaigns again: with a shared lease the old key would otherwise stay,
// keep every later campaign on the lease waiting for it to go, and keep the
// election led by nobody who acts on it.
func TestRunRetriesFailedResignBeforeCampaigning(t *testing.T) {
	n := coordtest.NewNode(t)
	link := n.NewLink(t)
	ctx := context.Background()
	l, err := lease.Grant(ctx, n.Client(), 10*time.Second)
	require.NoError(t, err)
	l.KeepAlive(ctx) // renewed in-process, unaffected by the link
	defer l.Close()

	elected := make(chan int64, 10)
	resignFailed := make(chan error, 1)
	first := true
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- election.Run(runCtx, link.Client(), "e", "v", election.Callbacks{
			OnElected: func(ctx context.Context, term *election.Term) {
				elected <- term.Token()
				if first {
					first = false
					link.Blackhole()
					short, stop := context.WithTimeout(context.Background(), 200*time.Millisecond)
					resignFailed <- term.Resign(short)
					stop()
				}
				<-ctx.Done()
			},
		}, election.WithLease(l))
	}()
	rev1 := recv(t, elected)
	require.Error(t, recv(t, resignFailed))
	// The link comes back with every held request lost, as after a reset.
	link.DropConnections()
	link.Unblackhole()
	rev2 := recv(t, elected)
	require.Greater(t, rev2, rev1, "a new term after the old key was resigned")
	cancel()
	require.ErrorIs(t, recv(t, done), context.Canceled)
}
