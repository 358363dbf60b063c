package discovery_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit/coordtest"
	"github.com/coordkit/coordkit/discovery"
	"github.com/coordkit/coordkit/lease"
)

func TestCloseDeregistersAndRevokes(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t)
	cli := n.Client()
	ctx := ctxT(t, wait)
	w := watch(t, n.NewClient(t), "payments")
	reg := register(t, cli, discovery.Instance{Service: "payments", ID: "p1", Addr: "10.0.0.1:80"}, discovery.WithTTL(3*time.Second))
	require.Equal(t, discovery.Registered, reg.State())
	require.NoError(t, reg.Err())
	c := <-reg.States()
	require.Equal(t, discovery.Registered, c.State)
	require.Equal(t, reg.Lease(), c.Lease)

	info, err := lease.TimeToLive(ctx, cli, reg.Lease(), true)
	require.NoError(t, err)
	require.Equal(t, 3*time.Second, info.GrantedTTL)
	require.Equal(t, []string{reg.Key()}, info.Keys)
	waitFor(t, w, "listing p1", has("p1"))

	require.NoError(t, reg.Close(ctx))
	require.NoError(t, reg.Close(ctx), "Close is idempotent")
	require.Equal(t, discovery.Closed, reg.State())
	c, ok := <-reg.States()
	require.True(t, ok)
	require.Equal(t, discovery.Closed, c.State)
	_, ok = <-reg.States()
	require.False(t, ok, "States is closed after Closed")

	waitFor(t, w, "without p1", hasNot("p1"))
	_, err = lease.TimeToLive(ctx, cli, c.Lease, false)
	require.ErrorIs(t, err, lease.ErrExpired, "the registration's own lease is revoked")

	err = reg.Update(ctx, func(i *discovery.Instance) { i.Zone = "b" })
	require.ErrorIs(t, err, discovery.ErrClosed)
}

// Registrations sharing a lease all ride it; closing one leaves the lease
// and the others alone.
func TestSharedLease(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t)
	cli := n.Client()
	ctx := ctxT(t, wait)
	l, err := lease.Grant(ctx, cli, 5*time.Second)
	require.NoError(t, err)
	l.KeepAlive(ctx)
	t.Cleanup(func() { _ = l.Revoke(context.Background()) })

	a := register(t, cli, discovery.Instance{Service: "payments", Addr: "10.0.0.1:80"}, discovery.WithLease(l))
	b := register(t, cli, discovery.Instance{Service: "orders", Addr: "10.0.0.1:81"}, discovery.WithLease(l))
	require.Equal(t, l.ID(), a.Lease())
	require.Equal(t, l.ID(), b.Lease())
	info, err := l.TimeToLive(ctx, true)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{a.Key(), b.Key()}, info.Keys)

	require.NoError(t, a.Close(ctx))
	require.NoError(t, l.Err(), "Close does not revoke a shared lease")
	info, err = l.TimeToLive(ctx, true)
	require.NoError(t, err)
	require.Equal(t, []string{b.Key()}, info.Keys)
}

// When the shared lease is lost, its registrations come back on one
// replacement lease, revoked when the last of them closes.
func TestSharedLeaseLossFallsBackToOneLease(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t)
	cli := n.Client()
	ctx := ctxT(t, wait)
	w := watch(t, cli, "payments")
	l, err := lease.Grant(ctx, cli, 2*time.Second)
	require.NoError(t, err)
	l.KeepAlive(ctx)

	var regs []*discovery.Registration
	for _, id := range []string{"a", "b", "c"} {
		regs = append(regs, register(t, cli, discovery.Instance{Service: "payments", ID: id, Addr: id + ":80"}, discovery.WithLease(l)))
	}
	waitFor(t, w, "listing a, b, c", func(s discovery.Snapshot) bool { return len(s.Instances) == 3 })

	require.NoError(t, l.Revoke(ctx)) // deletes every key on it
	var fallback clientv3.LeaseID
	for _, reg := range regs {
		lost := waitState(t, reg, discovery.Lost)
		require.Equal(t, l.ID(), lost.Lease)
		back := waitState(t, reg, discovery.Registered)
		require.NotEqual(t, l.ID(), back.Lease)
		if fallback == 0 {
			fallback = back.Lease
		}
		require.Equal(t, fallback, back.Lease, "all registrations of the lost lease share one replacement")
	}
	waitFor(t, w, "listing a, b, c again", func(s discovery.Snapshot) bool { return len(s.Instances) == 3 })
	info, err := lease.TimeToLive(ctx, cli, fallback, true)
	require.NoError(t, err)
	require.Len(t, info.Keys, 3)
	require.Equal(t, 2*time.Second, info.GrantedTTL, "the replacement has the shared lease's TTL")

	require.NoError(t, regs[0].Close(ctx))
	_, err = lease.TimeToLive(ctx, cli, fallback, false)
	require.NoError(t, err, "the replacement lives while registrations use it")
	require.NoError(t, regs[1].Close(ctx))
	require.NoError(t, regs[2].Close(ctx))
	_, err = lease.TimeToLive(ctx, cli, fallback, false)
	require.ErrorIs(t, err, lease.ErrExpired, "the last registration out revokes the replacement")
}

// Someone deletes the key: the supervisor puts it back.
func TestDeletedKeyComesBack(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t)
	ctx := ctxT(t, wait)
	w := watch(t, n.Client(), "payments")
	reg := register(t, n.NewClient(t), discovery.Instance{Service: "payments", ID: "p1", Addr: "10.0.0.1:80"}, discovery.WithTTL(2*time.Second))
	first := waitState(t, reg, discovery.Registered)
	waitFor(t, w, "listing p1", has("p1"))

	del, err := n.Client().Delete(ctx, reg.Key())
	require.NoError(t, err)
	require.EqualValues(t, 1, del.Deleted)

	lost := waitState(t, reg, discovery.Lost)
	require.ErrorIs(t, lost.Err, discovery.ErrKeyDeleted)
	back := waitState(t, reg, discovery.Registered)
	require.Greater(t, back.Revision, del.Header.Revision)
	require.Equal(t, first.Lease, back.Lease, "the lease is still good: only the key is re-put")
	s := waitFor(t, w, "listing p1 again", func(s discovery.Snapshot) bool {
		return has("p1")(s) && s.Revision >= back.Revision
	})
	require.Equal(t, "10.0.0.1:80", s.Instances[0].Addr)
}

// A restarted instance (same ID) replaces its predecessor's entry, which
// is not listed next to it, and the old lease expiring does not remove it.
func TestRestartedInstanceReplacesItsEntry(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t)
	cli := n.Client()
	ctx := ctxT(t, wait)
	w := watch(t, cli, "payments")
	old, err := lease.Grant(ctx, cli, 60*time.Second)
	require.NoError(t, err)
	_, err = cli.Put(ctx, "coordkit/services/payments/p1", `{"Op":0,"Addr":"10.0.0.1:80"}`, clientv3.WithLease(old.ID()))
	require.NoError(t, err)
	waitFor(t, w, "listing the crashed p1", has("p1"))

	reg := register(t, cli, discovery.Instance{Service: "payments", ID: "p1", Addr: "10.0.0.2:80"})
	s := waitFor(t, w, "p1 at its new address", func(s discovery.Snapshot) bool {
		return len(s.Instances) == 1 && s.Instances[0].Addr == "10.0.0.2:80"
	})
	require.Equal(t, []string{"p1"}, ids(s.Instances))

	require.NoError(t, old.Revoke(ctx)) // the crashed incarnation's lease ends
	resp, err := cli.Get(ctx, reg.Key())
	require.NoError(t, err)
	require.Len(t, resp.Kvs, 1)
	require.Equal(t, int64(reg.Lease()), resp.Kvs[0].Lease)
	require.Equal(t, discovery.Registered, reg.State())
}

func TestUpdateAndDrain(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t)
	cli := n.Client()
	ctx := ctxT(t, wait)
	w := watch(t, n.NewClient(t), "payments")
	a := register(t, cli, discovery.Instance{Service: "payments", ID: "a", Addr: "10.0.0.1:80", Version: "v1"})
	register(t, cli, discovery.Instance{Service: "payments", ID: "b", Addr: "10.0.0.2:80", Version: "v1"})
	waitFor(t, w, "listing a and b", func(s discovery.Snapshot) bool { return len(s.Available()) == 2 })

	require.NoError(t, a.Update(ctx, func(i *discovery.Instance) {
		i.Version = "v2"
		i.Metadata = map[string]string{"build": "42"}
	}))
	s := waitFor(t, w, "a at v2", func(s discovery.Snapshot) bool { return len(s.Instances) == 2 && s.Instances[0].Version == "v2" })
	require.Equal(t, "42", s.Instances[0].Metadata["build"])
	require.Equal(t, "v2", a.Instance().Version)

	err := a.Update(ctx, func(i *discovery.Instance) { i.ID = "other" })
	require.ErrorIs(t, err, discovery.ErrInvalidInstance)
	err = a.Update(ctx, func(i *discovery.Instance) { i.Metadata = map[string]string{"zone": "x"} })
	require.ErrorIs(t, err, discovery.ErrInvalidInstance)

	// Drain: a stays listed but is no longer available, then leaves.
	drained := make(chan error, 1)
	go func() { drained <- a.Drain(ctx, 500*time.Millisecond) }()
	s = waitFor(t, w, "a draining", func(s discovery.Snapshot) bool { return len(s.Available()) == 1 })
	require.Len(t, s.Instances, 2)
	require.True(t, s.Instances[0].Draining)
	for _, p := range []discovery.Picker{discovery.NewRoundRobin(w), discovery.NewRandom(w), discovery.NewPowerOfTwo(w)} {
		for range 20 {
			in, done, err := p.Pick()
			require.NoError(t, err)
			done()
			require.Equal(t, "b", in.ID, "a draining instance is never picked")
		}
	}
	select {
	case err := <-drained:
		require.NoError(t, err)
	case <-time.After(wait):
		t.Fatal("Drain did not return")
	}
	require.Equal(t, discovery.Closed, a.State())
	waitFor(t, w, "a gone", hasNot("a"))
}

// Two live processes with one ID: the last writer wins, and Update tells
// the other.
func TestDuplicateIDIsReported(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t)
	ctx := ctxT(t, wait)
	a := register(t, n.Client(), discovery.Instance{Service: "payments", ID: "p1", Addr: "10.0.0.1:80"})
	b := register(t, n.NewClient(t), discovery.Instance{Service: "payments", ID: "p1", Addr: "10.0.0.2:80"})
	err := a.Update(ctx, func(i *discovery.Instance) { i.Version = "v2" })
	require.ErrorIs(t, err, discovery.ErrTakenOver)
	require.Contains(t, err.Error(), "own ID")

	// a's Close leaves b's entry alone.
	require.NoError(t, a.Close(ctx))
	resp, err := n.Client().Get(ctx, b.Key())
	require.NoError(t, err)
	require.Len(t, resp.Kvs, 1)
	require.Equal(t, int64(b.Lease()), resp.Kvs[0].Lease)
}
