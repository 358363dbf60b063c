package coordkit_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coordkit/coordkit"
	"github.com/coordkit/coordkit/lease"
)

func TestMinLeaseTTLAndCheck(t *testing.T) {
	t.Parallel()
	require.Equal(t, 4*time.Second, coordkit.MinLeaseTTL(time.Second))
	require.Equal(t, 4*time.Second, coordkit.MinLeaseTTL(0), "etcd's default election timeout")
	require.Equal(t, 2*time.Second, coordkit.MinLeaseTTL(100*time.Millisecond))
	require.Equal(t, 3*time.Second, coordkit.MinLeaseTTL(500*time.Millisecond))

	err := coordkit.CheckLeaseTTL(2*time.Second, time.Second)
	require.ErrorIs(t, err, coordkit.ErrLeaseTTLTooShort)
	require.Contains(t, err.Error(), "TTL 2s < 4s")
	require.NoError(t, coordkit.CheckLeaseTTL(10*time.Second, time.Second))

	n := start(t, fast("ttl")) // 100 ms election timeout
	require.Equal(t, 100*time.Millisecond, n.ElectionTimeout())
	require.ErrorIs(t, n.CheckLeaseTTL(time.Second), coordkit.ErrLeaseTTLTooShort)
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
	var follower *coordkit.Node
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
