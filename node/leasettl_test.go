package node_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coordkit/coordkit"
	"github.com/coordkit/coordkit/lease"
	"github.com/coordkit/coordkit/node"
)

func TestNodeCheckLeaseTTL(t *testing.T) {
	t.Parallel()
	n := start(t, fast("ttl")) // 100 ms election timeout
	require.Equal(t, 100*time.Millisecond, n.ElectionTimeout())
	require.ErrorIs(t, n.CheckLeaseTTL(time.Second), coordkit.ErrInvalidTTL)
	require.NoError(t, n.CheckLeaseTTL(2*time.Second))
}

// A lease of MinLeaseTTL, kept alive through a follower's member, survives
// the death of the leader's member.
func TestLeaseOfMinTTLSurvivesLeaderKill(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("waits two TTLs")
	}
	ctx := context.Background()
	cfg := fast("lt")
	cfg.TickInterval = 50 * time.Millisecond
	cfg.ElectionTimeout = 500 * time.Millisecond
	nodes := startCluster(t, 3, cfg)
	lead := leaderOf(t, nodes)
	var follower *node.Node
	for _, n := range nodes {
		if n != lead {
			follower = n
		}
	}
	ttl := coordkit.MinLeaseTTL(follower.ElectionTimeout())
	require.NoError(t, follower.CheckLeaseTTL(ttl))
	l, err := lease.Grant(ctx, follower.Client(), ttl)
	require.NoError(t, err)
	defer l.Close()
	kctx, cancel := context.WithCancel(ctx)
	defer cancel()
	l.KeepAlive(kctx)
	// Kill the leader right after a renewal was confirmed, the worst time.
	require.Eventually(t, func() bool { return time.Until(l.Deadline()) > ttl-100*time.Millisecond }, 5*time.Second, 5*time.Millisecond)
	require.NoError(t, lead.Kill())

	timer := time.NewTimer(2 * ttl)
	defer timer.Stop()
	select {
	case <-l.Done():
		t.Fatalf("lease of TTL %v lost across a leader change: %v", ttl, l.Err())
	case <-timer.C:
	}
	info, err := l.TimeToLive(ctx, false)
	require.NoError(t, err)
	require.Positive(t, info.Remaining)
}
