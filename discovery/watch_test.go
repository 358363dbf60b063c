package discovery_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/resolver"

	"github.com/coordkit/coordkit/coordtest"
	"github.com/coordkit/coordkit/discovery"
)

func TestWatchListsThenFollows(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t)
	cli := n.Client()
	register(t, cli, discovery.Instance{Service: "payments", ID: "b", Addr: "10.0.0.2:80"})
	register(t, cli, discovery.Instance{Service: "payments", ID: "a", Addr: "10.0.0.1:80"})
	register(t, cli, discovery.Instance{Service: "orders", ID: "x", Addr: "10.0.0.9:80"})

	w, err := discovery.Watch(context.Background(), n.NewClient(t), "payments", quiet)
	require.NoError(t, err)
	defer w.Close()
	select {
	case <-w.Changes(): // the initial value
	case <-time.After(wait):
		t.Fatal("no initial value on Changes")
	}
	require.NoError(t, w.WaitReady(ctxT(t, wait)))
	s := w.Snapshot()
	require.Equal(t, "payments", s.Service)
	require.Equal(t, []string{"a", "b"}, ids(s.Instances), "sorted by ID, other services left out")
	require.Positive(t, s.Revision)
	require.False(t, w.Stale())
	require.NoError(t, w.Err())

	c := register(t, cli, discovery.Instance{Service: "payments", ID: "c", Addr: "10.0.0.3:80"})
	s2 := waitFor(t, w, "listing c", has("c"))
	require.Equal(t, []string{"a", "b", "c"}, ids(s2.Instances))
	require.Greater(t, s2.Revision, s.Revision)
	added, removed, changed := discovery.Diff(s.Instances, s2.Instances)
	require.Equal(t, []string{"c"}, ids(added))
	require.Empty(t, removed)
	require.Empty(t, changed)
	require.Equal(t, []string{"a", "b"}, ids(s.Instances), "snapshots are immutable")

	require.NoError(t, c.Close(ctxT(t, wait)))
	s3 := waitFor(t, w, "without c", hasNot("c"))
	_, removed, _ = discovery.Diff(s2.Instances, s3.Instances)
	require.Equal(t, []string{"c"}, ids(removed))

	w.Close()
	w.Close()
	_, ok := <-w.Changes()
	for ok {
		_, ok = <-w.Changes()
	}
	require.ErrorIs(t, w.WaitReady(context.Background()), discovery.ErrClosed)
}

// Watchers of a service share one etcd watch per client and namespace;
// it stops with the last of them.
func TestWatchersShareOneWatch(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t)
	cli, other := n.Client(), n.NewClient(t)
	a := watch(t, cli, "shared")
	b := watch(t, cli, "shared")
	c := watch(t, other, "shared")
	d := watch(t, cli, "shared", discovery.WithNamespace("elsewhere"))
	require.True(t, discovery.SameWatch(a, b))
	require.False(t, discovery.SameWatch(a, c), "another client, another watch")
	require.False(t, discovery.SameWatch(a, d), "another namespace, another watch")

	a.Close()
	register(t, cli, discovery.Instance{Service: "shared", ID: "s1", Addr: "10.0.0.1:80"})
	waitFor(t, b, "listing s1 after a closed", has("s1"))
	waitFor(t, c, "listing s1", has("s1"))
	require.Empty(t, d.Instances())

	ctx, cancel := context.WithCancel(context.Background())
	e, err := discovery.Watch(ctx, cli, "shared", quiet)
	require.NoError(t, err)
	require.True(t, discovery.SameWatch(b, e))
	cancel() // ends the watcher
	select {
	case <-waitClosed(e):
	case <-time.After(wait):
		t.Fatal("watcher not closed by its context")
	}
}

func waitClosed(w *discovery.Watcher) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		for range w.Changes() {
		}
		close(done)
	}()
	return done
}

// The watcher's link goes silent (a pulled cable): the cache says it is
// stale but keeps its instances. Meanwhile instances change and etcd
// compacts the history: once the link is back, the cache is right.
func TestSilentLinkThenHeal(t *testing.T) {
	t.Parallel()
	n := coordtest.NewNode(t)
	cli := n.Client()
	ctx := ctxT(t, wait)
	link := n.NewLink(t)
	for _, id := range []string{"a", "b", "c"} {
		_, err := cli.Put(ctx, "coordkit/services/payments/"+id, `{"Op":0,"Addr":"`+id+`:80"}`)
		require.NoError(t, err)
	}
	w := watch(t, link.Client(), "payments", discovery.WithStaleAfter(300*time.Millisecond))
	waitFor(t, w, "listing a, b, c", func(s discovery.Snapshot) bool { return len(s.Instances) == 3 })
	relists := discovery.Relists(w)

	link.Blackhole()
	waitFor(t, w, "stale", func(discovery.Snapshot) bool { return w.Stale() })
	require.ErrorIs(t, w.Err(), discovery.ErrStale)
	require.Equal(t, []string{"a", "b", "c"}, ids(w.Instances()), "stale, not emptied")

	_, err := cli.Delete(ctx, "coordkit/services/payments/b")
	require.NoError(t, err)
	_, err = cli.Put(ctx, "coordkit/services/payments/c", `{"Op":0,"Addr":"c:81"}`)
	require.NoError(t, err)
	put, err := cli.Put(ctx, "coordkit/services/payments/d", `{"Op":0,"Addr":"d:80"}`)
	require.NoError(t, err)
	_, err = cli.Compact(ctx, put.Header.Revision, clientv3.WithCompactPhysical())
	require.NoError(t, err)
	require.Equal(t, []string{"a", "b", "c"}, ids(w.Instances()))

	link.Unblackhole()
	s := waitFor(t, w, "current: a, c at :81, d", func(s discovery.Snapshot) bool {
		return !w.Stale() && slices.Equal(ids(s.Instances), []string{"a", "c", "d"}) && s.Instances[1].Addr == "c:81"
	})
	require.GreaterOrEqual(t, s.Revision, put.Header.Revision)
	require.Greater(t, discovery.Relists(w), relists, "the watch could not resume past the compaction: it listed again")
}

// The watcher's member is killed; meanwhile instances change and the
// cluster compacts its history. When the member is back, clientv3 resumes
// the watch from the compacted revision, etcd refuses, and the cache lists
// again and publishes the difference.
func TestCompactionUnderLiveWatcher(t *testing.T) {
	t.Parallel()
	c := coordtest.NewCluster(t, 3)
	ctx := ctxT(t, 3*wait)
	leader := c.Leader()
	victim := (leader + 1) % 3 // a follower: writes go on without an election
	cli := c.Member(leader).Client()
	for _, id := range []string{"a", "b", "c"} {
		_, err := cli.Put(ctx, "coordkit/services/payments/"+id, `{"Op":0,"Addr":"`+id+`:80"}`)
		require.NoError(t, err)
	}
	// A long stale timeout keeps the watcher from re-opening the watch
	// itself: clientv3 resumes it.
	w := watch(t, c.Member(victim).Client(), "payments", discovery.WithStaleAfter(time.Minute))
	waitFor(t, w, "listing a, b, c", func(s discovery.Snapshot) bool { return len(s.Instances) == 3 })
	relists := discovery.Relists(w)
	var changes int
	counted := make(chan struct{})
	go func() {
		defer close(counted)
		for range w.Changes() {
			changes++
		}
	}()

	c.Member(victim).Kill()
	_, err := cli.Delete(ctx, "coordkit/services/payments/b")
	require.NoError(t, err)
	_, err = cli.Put(ctx, "coordkit/services/payments/c", `{"Op":0,"Addr":"c:81"}`)
	require.NoError(t, err)
	put, err := cli.Put(ctx, "coordkit/services/payments/d", `{"Op":0,"Addr":"d:80"}`)
	require.NoError(t, err)
	_, err = cli.Compact(ctx, put.Header.Revision, clientv3.WithCompactPhysical())
	require.NoError(t, err)
	require.Equal(t, []string{"a", "b", "c"}, ids(w.Instances()), "the cache keeps its last snapshot")

	c.Member(victim).Restart()
	s := waitFor(t, w, "current: a, c at :81, d", func(s discovery.Snapshot) bool {
		return slices.Equal(ids(s.Instances), []string{"a", "c", "d"}) && s.Instances[1].Addr == "c:81"
	})
	require.GreaterOrEqual(t, s.Revision, put.Header.Revision)
	require.Equal(t, relists+1, discovery.Relists(w), "one list after the compaction")
	w.Close()
	<-counted
	require.LessOrEqual(t, changes, 3, "the difference is published at once, not event by event")
}

// Until the first list succeeds, WaitReady says why it is waiting.
func TestWaitReadyReportsWhy(t *testing.T) {
	t.Parallel()
	c := coordtest.NewCluster(t, 1)
	m := c.Member(0)
	m.Stop()
	w, err := discovery.Watch(context.Background(), m.Client(), "payments", quiet, discovery.WithStaleAfter(200*time.Millisecond))
	require.NoError(t, err)
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err = w.WaitReady(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Contains(t, err.Error(), "not ready")
	require.True(t, w.Stale())
	require.Empty(t, w.Instances())

	m.Restart()
	require.NoError(t, w.WaitReady(ctxT(t, wait)))
	require.False(t, w.Stale())
}

// endsWhenAsked is a context that is live until its Done channel is first
// asked for, then cancelled: a context cancelled by another goroutine at the
// worst moment, between Watch's checks.
type endsWhenAsked struct {
	context.Context
	cancel context.CancelFunc
}

func (c endsWhenAsked) Done() <-chan struct{} {
	c.cancel()
	return c.Context.Done()
}

// A context that ends while Watch is starting closes the Watcher cleanly:
// no race with Watch's own bookkeeping, no nil call.
func TestWatchContextEndingDuringWatch(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, err := discovery.Watch(endsWhenAsked{ctx, cancel}, n.Client(), "payments", quiet)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		return errors.Is(w.WaitReady(context.Background()), discovery.ErrClosed)
	}, wait, time.Millisecond)
	w.Close()
}

// A store nobody writes to (keep-alives do not write) is not silence: the
// watcher, and a resolver on it, stay current over many stale timeouts, on
// every etcd version (3.6+ answers no progress request on a gRPC watch
// stream while one of its watchers starts ahead of the store), even beside
// another watch of the client that does start ahead.
func TestIdleStoreStaysCurrent(t *testing.T) {
	t.Parallel()
	for _, ahead := range []bool{false, true} {
		name := "alone"
		if ahead {
			name = "beside a watch ahead of the store"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			idleStoreStaysCurrent(t, ahead)
		})
	}
}

func idleStoreStaysCurrent(t *testing.T, ahead bool) {
	n := coordtest.NewServer(t)
	cli := n.NewClient(t)
	register(t, cli, discovery.Instance{Service: "idle", ID: "i1", Addr: "10.0.0.1:80"})
	if ahead {
		// A watch on the same gRPC stream (WithRequireLeader, as the
		// watcher's) from a revision the store has not reached.
		ctx, cancel := context.WithCancel(clientv3.WithRequireLeader(context.Background()))
		t.Cleanup(cancel)
		cur, err := cli.Get(ctx, "x")
		require.NoError(t, err)
		cli.Watch(ctx, "elsewhere", clientv3.WithRev(cur.Header.Revision+1000))
	}
	// Short, but not so short that a loaded machine misses it: an answer
	// has half of it to arrive.
	const staleAfter = 500 * time.Millisecond
	b, err := discovery.NewResolverBuilder(cli, quiet, discovery.WithStaleAfter(staleAfter))
	require.NoError(t, err)
	cc := newFakeConn()
	r, err := build(t, b, "coordkit:///idle", cc)
	require.NoError(t, err)
	cc.await(t, "gave the address", func(s []resolver.State, _ []error) bool { return len(s) == 1 })
	w := discovery.ResolverWatcher(r)
	require.False(t, w.Stale())
	spells, relists := discovery.StaleSpells(w), discovery.Relists(w)

	// Signs of life are asked for at most every half stale timeout: 12 of
	// them span several timeouts.
	const signs = 12
	timeout := time.After(wait)
	poll := time.NewTicker(20 * time.Millisecond)
	defer poll.Stop()
	for {
		progress, probes := discovery.SignsOfLife(w)
		if discovery.StaleSpells(w) != spells {
			t.Fatalf("idle store reported stale: %v (signs of life: %d progress, %d probes)", w.Err(), progress, probes)
		}
		if progress+probes >= signs {
			t.Logf("signs of life: %d progress notifications, %d probes", progress, probes)
			break
		}
		select {
		case <-poll.C:
		case <-timeout:
			t.Fatalf("only %d progress notifications and %d probes within %v; stale: %v", progress, probes, wait, w.Err())
		}
	}
	require.Equal(t, relists, discovery.Relists(w), "no list again")
	require.NoError(t, w.Err())
	if progress, _ := discovery.SignsOfLife(w); !ahead {
		require.Positive(t, progress, "the watcher's own watch must not start ahead of the store")
	}
	cc.mu.Lock()
	defer cc.mu.Unlock()
	require.Empty(t, cc.errs, "the resolver reported no error")
	require.Len(t, cc.states, 1)
}
