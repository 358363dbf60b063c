package discovery_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coordkit/coordkit/coordtest"
	"github.com/coordkit/coordkit/discovery"
	"github.com/coordkit/coordkit/lease"
)

// The registering client's member is cut off from the cluster for longer
// than the TTL: the lease expires on the majority side and the instance
// disappears; once healed, the supervisor re-registers it.
func TestPartitionLongerThanTTLThenHeal(t *testing.T) {
	t.Parallel()
	c := coordtest.NewCluster(t, 3)
	leader := c.Leader()
	victim, other := (leader+1)%3, (leader+2)%3
	const ttl = time.Second
	w := watch(t, c.Member(other).Client(), "payments")
	reg := register(t, c.Member(victim).Client(), discovery.Instance{Service: "payments", ID: "p1", Addr: "10.0.0.1:80"}, discovery.WithTTL(ttl))
	first := waitState(t, reg, discovery.Registered)
	waitFor(t, w, "listing p1", has("p1"))

	c.Partition(victim)
	lost := waitState(t, reg, discovery.Lost)
	require.True(t, errors.Is(lost.Err, lease.ErrDeadlinePassed) || errors.Is(lost.Err, lease.ErrExpired), "lost because: %v", lost.Err)
	waitFor(t, w, "p1 expired on the majority side", hasNot("p1"))
	require.Equal(t, discovery.Lost, reg.State(), "no registration without a quorum")

	healed := time.Now()
	c.Heal()
	back := waitState(t, reg, discovery.Registered)
	waitFor(t, w, "p1 back", has("p1"))
	t.Logf("instance back in the other member's cache %v after the heal (TTL %v)", time.Since(healed).Round(time.Millisecond), ttl)
	require.NotEqual(t, first.Lease, back.Lease, "a new lease: the old one expired")
}

// The whole cluster (one member) is killed and restarted: the watcher
// keeps its last snapshot and says it is stale meanwhile; the
// registration comes back on a new lease and survives the old lease's
// expiry.
func TestEtcdRestart(t *testing.T) {
	t.Parallel()
	c := coordtest.NewCluster(t, 1)
	m := c.Member(0)
	w := watch(t, m.Client(), "payments", discovery.WithStaleAfter(500*time.Millisecond))
	reg := register(t, c.Client(), discovery.Instance{Service: "payments", ID: "p1", Addr: "10.0.0.1:80"}, discovery.WithTTL(time.Second))
	first := waitState(t, reg, discovery.Registered)
	waitFor(t, w, "listing p1", has("p1"))

	m.Kill()
	lost := waitState(t, reg, discovery.Lost)
	require.Error(t, lost.Err)
	s := waitFor(t, w, "stale", func(discovery.Snapshot) bool { return w.Stale() })
	require.ErrorIs(t, w.Err(), discovery.ErrStale)
	require.Equal(t, []string{"p1"}, ids(s.Instances), "a stale cache keeps its last good snapshot")

	m.Restart()
	back := waitState(t, reg, discovery.Registered)
	waitFor(t, w, "current again, with p1 re-registered", func(s discovery.Snapshot) bool {
		return !w.Stale() && has("p1")(s) && s.Revision >= back.Revision
	})
	require.NotEqual(t, first.Lease, back.Lease)

	// etcd kept the old lease across the restart; when it expires, the
	// key, now on the new lease, stays.
	ctx := ctxT(t, wait)
	require.Eventually(t, func() bool {
		_, err := lease.TimeToLive(ctx, c.Client(), first.Lease, false)
		return errors.Is(err, lease.ErrExpired)
	}, wait, 50*time.Millisecond, "old lease never expired")
	resp, err := c.Client().Get(ctx, reg.Key())
	require.NoError(t, err)
	require.Len(t, resp.Kvs, 1)
	require.Equal(t, int64(reg.Lease()), resp.Kvs[0].Lease)
	require.True(t, has("p1")(w.Snapshot()))
}
