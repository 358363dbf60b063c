package discovery_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/coordkit/coordkit/coordtest"
	"github.com/coordkit/coordkit/discovery"
	"github.com/coordkit/coordkit/internal/etcderr"
	"github.com/coordkit/coordkit/lease"
)

// The registering client's member is cut off from the cluster for longer
// than the TTL: the lease expires on the majority side and the instance
// disappears; once healed, the registration puts it back.
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
	// A change made while lost is written when the instance is back.
	require.NoError(t, reg.Update(ctxT(t, wait), func(i *discovery.Instance) { i.Version = "v2" }))

	healed := time.Now()
	c.Heal()
	back := waitState(t, reg, discovery.Registered)
	s := waitFor(t, w, "p1 back", has("p1"))
	require.Equal(t, "v2", s.Instances[0].Version)
	t.Logf("instance back in the other member's cache %v after the heal (TTL %v)", time.Since(healed).Round(time.Millisecond), ttl)
	require.NotEqual(t, first.Lease, back.Lease, "a new lease: the old one expired")
}

// The whole cluster (one member) is killed and restarted: the watcher
// keeps its last snapshot and says it is stale meanwhile; the
// registration comes back, and survives its old lease's expiry if it
// moved to a new one.
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
	// etcd keeps leases across a restart: the registration renews its
	// lease again, or, if its client gave it up meanwhile, moves to a new
	// one, and then the old lease's expiry leaves the key, now on the new
	// lease, alone.
	ctx := ctxT(t, wait)
	if back.Lease != first.Lease {
		require.Eventually(t, func() bool {
			_, err := lease.TimeToLive(ctx, c.Client(), first.Lease, false)
			return errors.Is(err, lease.ErrExpired)
		}, wait, 50*time.Millisecond, "old lease never expired")
	}
	resp, err := c.Client().Get(ctx, reg.Key())
	require.NoError(t, err)
	require.Len(t, resp.Kvs, 1)
	require.Equal(t, int64(reg.Lease()), resp.Kvs[0].Lease)
	require.True(t, has("p1")(w.Snapshot()))
}

// Closing the etcd client under a registration and a watcher is reported,
// not hidden: both say ErrClientClosed, and their loops end.
func TestClientClosedUnderfoot(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t, coordtest.WithFullAccess("dials Endpoints itself"))
	cli, err := clientv3.New(clientv3.Config{Endpoints: n.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	require.NoError(t, err)
	reg := register(t, cli, discovery.Instance{Service: "payments", ID: "p1", Addr: "10.0.0.1:80"}, discovery.WithTTL(time.Second))
	w := watch(t, cli, "payments")
	waitState(t, reg, discovery.Registered)
	require.NoError(t, cli.Close())

	require.Eventually(t, func() bool { return errors.Is(reg.Err(), discovery.ErrClientClosed) }, wait, 20*time.Millisecond,
		"registration error: %v", reg.Err())
	require.Equal(t, discovery.Lost, reg.State())
	waitFor(t, w, "reporting the closed client", func(discovery.Snapshot) bool { return errors.Is(w.Err(), discovery.ErrClientClosed) })
	require.True(t, has("p1")(w.Snapshot()), "the last snapshot stays")
	err = reg.Close(ctxT(t, wait))
	require.ErrorIs(t, err, discovery.ErrClientClosed, "nothing can be deleted through a closed client")
	require.True(t, etcderr.Rejected(err), "nothing was sent: %v", err)
}
