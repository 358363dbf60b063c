package discovery_test

import (
	"context"
	"fmt"
	"regexp"
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

// The caller owns a lease given with WithLease: when it is lost, its
// registrations end (they do not move to a lease of their own), while a
// registration without WithLease re-grants a lease of its own. A lease
// nobody keeps alive is kept alive by the registrations.
func TestCallersLeaseLossEndsItsRegistrations(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t)
	cli := n.Client()
	ctx := ctxT(t, wait)
	w := watch(t, cli, "payments")
	l, err := lease.Grant(ctx, cli, 2*time.Second) // no KeepAlive: Register starts it
	require.NoError(t, err)

	var regs []*discovery.Registration
	for _, id := range []string{"a", "b", "c"} {
		regs = append(regs, register(t, cli, discovery.Instance{Service: "payments", ID: id, Addr: id + ":80"}, discovery.WithLease(l)))
	}
	own := register(t, cli, discovery.Instance{Service: "payments", ID: "own", Addr: "own:80"}, discovery.WithTTL(2*time.Second))
	waitFor(t, w, "listing a, b, c, own", func(s discovery.Snapshot) bool { return len(s.Instances) == 4 })
	granted := l.Deadline()
	require.Eventually(t, func() bool { return l.Deadline().After(granted) }, wait, 20*time.Millisecond, "Register keeps the caller's lease alive")

	_, err = n.NewClient(t).Revoke(ctx, l.ID()) // revoked elsewhere: lost, with every key on it
	require.NoError(t, err)
	_, err = n.NewClient(t).Revoke(ctx, own.Lease())
	require.NoError(t, err)
	for _, reg := range regs {
		end := waitState(t, reg, discovery.Ended)
		require.Equal(t, l.ID(), end.Lease)
		require.ErrorIs(t, end.Err, discovery.ErrLost)
		require.ErrorIs(t, end.Err, lease.ErrExpired, "the lease's own error")
		require.Equal(t, "discovery: registration "+reg.Key()+": lost: lease: "+fmt.Sprintf("%x", int64(l.ID()))+": expired or revoked elsewhere", end.Err.Error())
		require.Equal(t, discovery.Ended, reg.State())
		require.ErrorIs(t, reg.Err(), discovery.ErrLost)
		err := reg.Update(ctx, func(i *discovery.Instance) { i.Version = "v2" })
		require.ErrorIs(t, err, discovery.ErrLost)
	}
	back := waitState(t, own, discovery.Registered)
	require.NotEqual(t, l.ID(), back.Lease)
	s := waitFor(t, w, "listing only own", func(s discovery.Snapshot) bool { return len(s.Instances) == 1 })
	require.Equal(t, []string{"own"}, ids(s.Instances))
	require.Never(t, func() bool { return len(w.Instances()) != 1 }, 500*time.Millisecond, 50*time.Millisecond, "an ended registration stays gone")

	for _, reg := range regs {
		require.NoError(t, reg.Close(ctx))
		require.Equal(t, discovery.Closed, reg.State())
	}
	_, err = discovery.Register(ctx, cli, discovery.Instance{Service: "payments", ID: "late", Addr: "late:80"}, discovery.WithLease(l), quiet)
	require.ErrorIs(t, err, discovery.ErrLeaseLost, "registering on a lost lease")
}

// A process that restarts (a new client, the lease re-opened by ID) and
// registers the same instance on that lease takes its key back as it is:
// no deletion, no ErrTakenOver, and the new handle's Update and Close work.
func TestReclaimAfterRestart(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t)
	ctx := ctxT(t, wait)
	w := watch(t, n.Client(), "payments")
	inst := discovery.Instance{Service: "payments", ID: "p1", Addr: "10.0.0.1:80"}

	first := n.NewClient(t)
	l, err := lease.Grant(ctx, first, 10*time.Second)
	require.NoError(t, err)
	old, err := discovery.Register(ctx, first, inst, discovery.WithLease(l), quiet)
	require.NoError(t, err)
	before, err := n.Client().Get(ctx, old.Key())
	require.NoError(t, err)
	require.Len(t, before.Kvs, 1)
	waitFor(t, w, "listing p1", has("p1"))

	// The "process" dies without closing anything: its client goes.
	require.NoError(t, first.Close())
	require.Eventually(t, func() bool { return old.State() != discovery.Registered }, wait, 10*time.Millisecond)

	second := n.NewClient(t)
	reopened, err := lease.Open(ctx, second, l.ID())
	require.NoError(t, err)
	t.Cleanup(func() { _ = reopened.Revoke(context.Background()) })
	reg := register(t, second, inst, discovery.WithLease(reopened))
	require.Equal(t, discovery.Registered, reg.State())
	require.Equal(t, l.ID(), reg.Lease())
	after, err := n.Client().Get(ctx, reg.Key())
	require.NoError(t, err)
	require.Len(t, after.Kvs, 1)
	require.Equal(t, before.Kvs[0].CreateRevision, after.Kvs[0].CreateRevision, "the key was reused, never deleted")
	require.NoError(t, reg.Update(ctx, func(i *discovery.Instance) { i.Version = "v2" }), "no ErrTakenOver: the key is on this lease")
	waitFor(t, w, "p1 at v2", func(s discovery.Snapshot) bool { return has("p1")(s) && s.Instances[0].Version == "v2" })

	require.ErrorIs(t, old.Close(ctx), discovery.ErrClientClosed, "the dead process's handle sends nothing")
	require.NoError(t, reg.Close(ctx))
	waitFor(t, w, "without p1", hasNot("p1"))
	_, err = reopened.TimeToLive(ctx, false)
	require.NoError(t, err, "Close never revokes the caller's lease")
}

// Writes say whether they may have been applied: a write cut off in
// flight is ErrUnknownOutcome, one never sent is ErrRejected.
func TestWriteOutcomes(t *testing.T) {
	t.Parallel()
	n := coordtest.NewNode(t)
	link := n.NewLink(t)
	reg := register(t, link.Client(), discovery.Instance{Service: "payments", ID: "p1", Addr: "10.0.0.1:80"}, discovery.WithTTL(5*time.Second))

	link.Blackhole()
	short, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err := reg.Update(short, func(i *discovery.Instance) { i.Version = "v2" })
	require.ErrorIs(t, err, discovery.ErrUnknownOutcome)
	require.NotErrorIs(t, err, discovery.ErrRejected)
	err = reg.Close(short)
	require.ErrorIs(t, err, discovery.ErrUnknownOutcome)
	link.Unblackhole()
	require.NoError(t, reg.Close(ctxT(t, wait)), "a failed Close is tried again")

	dead := n.NewClient(t)
	require.NoError(t, dead.Close())
	_, err = discovery.Register(ctxT(t, wait), dead, discovery.Instance{Service: "payments", ID: "p2", Addr: "10.0.0.2:80"}, quiet)
	require.ErrorIs(t, err, discovery.ErrRejected)
	require.ErrorIs(t, err, discovery.ErrClientClosed)
}

// Someone deletes the key: the registration puts it back.
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
	require.Regexp(t, `^discovery: registration `+regexp.QuoteMeta(reg.Key())+`: key deleted or replaced: `, lost.Err.Error())
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

// The registrations of one service on one client share one etcd watch of
// their keys, which tells exactly the registration whose key went.
func TestRegistrationsShareOneWatch(t *testing.T) {
	n := coordtest.NewServer(t) // not parallel: counts the process's watches
	cli := n.Client()
	ctx := ctxT(t, wait)
	before := discovery.Registries()
	var regs []*discovery.Registration
	for _, id := range []string{"a", "b", "c"} {
		regs = append(regs, register(t, cli, discovery.Instance{Service: "payments", ID: id, Addr: id + ":80"}, discovery.WithTTL(5*time.Second)))
	}
	require.Equal(t, before+1, discovery.Registries())
	changes := regs[1].States()

	_, err := n.Client().Delete(ctx, regs[1].Key())
	require.NoError(t, err)
	lost := waitState(t, regs[1], discovery.Lost)
	require.ErrorIs(t, lost.Err, discovery.ErrKeyDeleted)
	waitState(t, regs[1], discovery.Registered)
	require.Len(t, changes, 0)
	for _, reg := range []*discovery.Registration{regs[0], regs[2]} {
		c := <-reg.States()
		require.Equal(t, discovery.Registered, c.State)
		require.Len(t, reg.States(), 0, "%s saw no loss", reg.Key())
	}
	for _, reg := range regs {
		require.NoError(t, reg.Close(ctx))
	}
	require.Equal(t, before, discovery.Registries(), "the last Close stops the watch")
}

// A deletion the watch missed because etcd compacted it away while the
// watch was cut off is found by the listing that follows.
func TestDeletionLostToCompactionIsFound(t *testing.T) {
	t.Parallel()
	n := coordtest.NewNode(t)
	link := n.NewLink(t)
	ctx := ctxT(t, wait)
	reg := register(t, link.Client(), discovery.Instance{Service: "payments", ID: "p1", Addr: "10.0.0.1:80"}, discovery.WithTTL(10*time.Second))
	changes := reg.States()
	<-changes

	link.Blackhole()
	del, err := n.Client().Delete(ctx, reg.Key())
	require.NoError(t, err)
	put, err := n.Client().Put(ctx, "unrelated", "x")
	require.NoError(t, err)
	_, err = n.Client().Compact(ctx, put.Header.Revision)
	require.NoError(t, err)
	link.DropConnections()
	link.Unblackhole()

	lost := waitState(t, reg, discovery.Lost)
	require.ErrorIs(t, lost.Err, discovery.ErrKeyDeleted)
	require.Contains(t, lost.Err.Error(), "missing from a listing", "found by the resync, not an event")
	back := waitState(t, reg, discovery.Registered)
	require.Greater(t, back.Revision, del.Header.Revision)
}
