package election_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit/coordtest"
	"github.com/coordkit/coordkit/election"
)

// IsLeader is true exactly while the Runner leads, through a real
// failover: the leader's link is blackholed, its lease runs out, and the
// other Runner takes over. The two are never leaders at once, each is
// leader inside OnElected and not inside OnDemoted, and a Runner that says
// it leads holds the key etcd has as leader.
func TestRunnerIsLeaderThroughFailover(t *testing.T) {
	t.Parallel()
	n := coordtest.NewNode(t)
	link := n.NewLink(t)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()

	var wrong atomic.Value // first violation seen, as a string
	note := func(s string) { wrong.CompareAndSwap(nil, s) }
	newRunner := func(cli *clientv3.Client, value string) (*election.Runner, chan struct{}) {
		elected := make(chan struct{}, 10)
		var r *election.Runner
		cb := election.Callbacks{
			OnElected: func(ctx context.Context, term *election.Term) {
				if !r.IsLeader() || r.Term() != term {
					note(value + ": not leader inside OnElected")
				}
				elected <- struct{}{}
				<-ctx.Done()
			},
			OnDemoted: func() {
				if r.IsLeader() {
					note(value + ": still leader inside OnDemoted")
				}
			},
		}
		var err error
		r, err = election.NewRunner(cli, "runner", value, cb, election.WithTTL(2*time.Second))
		require.NoError(t, err)
		return r, elected
	}
	a, aElected := newRunner(link.Client(), "a")
	b, bElected := newRunner(n.Client(), "b")
	require.False(t, a.IsLeader(), "not before Run")
	require.Nil(t, a.Term())

	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 2)
	go func() { done <- a.Run(rctx) }()
	recv(t, aElected)
	go func() { done <- b.Run(rctx) }()
	require.True(t, a.IsLeader())
	require.False(t, b.IsLeader(), "b waits behind a")
	require.ErrorIs(t, a.Run(rctx), election.ErrInvalidArgument, "one Run at a time")
	ld, err := election.New(n.Client(), "runner")
	require.NoError(t, err)
	cur, err := ld.Leader(ctx)
	require.NoError(t, err)
	require.Equal(t, cur.Key, a.Term().Key())

	// Watch the pair until the failover is over: never both leaders.
	watching := make(chan struct{})
	go func() {
		defer close(watching)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			if a.IsLeader() && b.IsLeader() {
				note("a and b both leaders")
			}
			select {
			case <-rctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	link.Blackhole()
	recv(t, bElected)
	require.True(t, b.IsLeader())
	require.False(t, a.IsLeader(), "a's term ended before b's began")
	cur, err = ld.Leader(ctx)
	require.NoError(t, err)
	require.Equal(t, cur.Key, b.Term().Key())

	link.DropConnections()
	link.Unblackhole()
	stop()
	<-watching
	for range 2 {
		require.ErrorIs(t, recv(t, done), context.Canceled)
	}
	require.False(t, a.IsLeader())
	require.False(t, b.IsLeader(), "not after Run returned")
	require.Nil(t, wrong.Load())
}
