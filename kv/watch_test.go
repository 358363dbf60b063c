package kv_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/coordkit/coordkit/coordtest"
	"github.com/coordkit/coordkit/kv"
)

// next receives one event or fails the test.
func next[T any](t *testing.T, w *kv.Watcher[T]) kv.Event[T] {
	t.Helper()
	select {
	case ev, ok := <-w.Events():
		require.True(t, ok, "watch ended: %v", w.Err())
		return ev
	case <-time.After(15 * time.Second):
		t.Fatal("no event within 15s")
		return kv.Event[T]{}
	}
}

func TestWatchDeliversTypedEvents(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t)
	ctx := ctxT(t)
	s, err := kv.New[user](n.Client(), "users")
	require.NoError(t, err)
	rev0, err := s.Put(ctx, "before", user{Name: "old"})
	require.NoError(t, err)

	w, err := s.Watch(ctx, kv.WithPrevValue())
	require.NoError(t, err)
	defer w.Close()
	rev1, err := s.Put(ctx, "ada", user{"Ada", 36})
	require.NoError(t, err)
	rev2, err := s.Put(ctx, "ada", user{"Ada", 37})
	require.NoError(t, err)
	_, rev3, err := s.Delete(ctx, "ada")
	require.NoError(t, err)
	_, err = n.Client().Put(ctx, "users2/x", `{}`) // another prefix: not seen
	require.NoError(t, err)
	_, err = n.Client().Put(ctx, "users/junk", "not json")
	require.NoError(t, err)

	ev := next(t, w)
	require.Equal(t, kv.EventPut, ev.Type)
	require.Equal(t, rev1, ev.Revision)
	require.Equal(t, kv.Entry[user]{Key: "ada", Value: user{"Ada", 36}, CreateRevision: rev1, ModRevision: rev1, Version: 1}, ev.Entry)
	require.Nil(t, ev.Prev)
	require.NoError(t, ev.Err)

	ev = next(t, w)
	require.Equal(t, kv.EventPut, ev.Type)
	require.Equal(t, rev2, ev.Revision)
	require.Equal(t, 37, ev.Entry.Value.Age)
	require.NotNil(t, ev.Prev)
	require.Equal(t, 36, ev.Prev.Value.Age)

	ev = next(t, w)
	require.Equal(t, kv.EventDelete, ev.Type)
	require.Equal(t, "delete", ev.Type.String())
	require.Equal(t, rev3, ev.Revision)
	require.Equal(t, "ada", ev.Entry.Key)
	require.Equal(t, rev3, ev.Entry.ModRevision)
	require.Equal(t, 37, ev.Prev.Value.Age)

	ev = next(t, w)
	require.Equal(t, "junk", ev.Entry.Key)
	require.ErrorIs(t, ev.Err, kv.ErrCodec, "an undecodable value is reported, the watch goes on")
	require.Contains(t, ev.Err.Error(), `"users/junk"`)

	// FromRevision replays history, including the change before Watch.
	w2, err := s.Watch(ctx, kv.FromRevision(rev0))
	require.NoError(t, err)
	defer w2.Close()
	for _, want := range []int64{rev0, rev1, rev2, rev3} {
		require.Equal(t, want, next(t, w2).Revision)
	}
}

func TestWatchInitialStateThenChanges(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t)
	ctx := ctxT(t)
	s, err := kv.New[int](n.Client(), "st", kv.WithPageSize(2))
	require.NoError(t, err)
	for i := range 5 {
		_, err := s.Put(ctx, fmt.Sprint(i), i)
		require.NoError(t, err)
	}
	w, err := s.Watch(ctx, kv.WithInitialState())
	require.NoError(t, err)
	defer w.Close()
	rev, err := s.Put(ctx, "5", 5)
	require.NoError(t, err)

	ev := next(t, w)
	require.Equal(t, kv.EventResync, ev.Type)
	require.Len(t, ev.State, 5)
	require.Equal(t, rev-1, ev.Revision)
	ev = next(t, w)
	require.Equal(t, kv.EventPut, ev.Type)
	require.Equal(t, "5", ev.Entry.Key)
	require.Equal(t, rev, ev.Revision)
}

func TestWatchFromCompactedRevisionResyncs(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t, coordtest.WithFullAccess("compacts the history"))
	ctx := ctxT(t)
	s, err := kv.New[int](n.Client(), "cmp")
	require.NoError(t, err)
	rev1, err := s.Put(ctx, "a", 1)
	require.NoError(t, err)
	_, err = s.Put(ctx, "b", 2)
	require.NoError(t, err)
	_, _, err = s.Delete(ctx, "a")
	require.NoError(t, err)
	rev4, err := s.Put(ctx, "c", 3)
	require.NoError(t, err)
	_, err = n.Client().Compact(ctx, rev4)
	require.NoError(t, err)

	w, err := s.Watch(ctx, kv.FromRevision(rev1))
	require.NoError(t, err)
	defer w.Close()
	ev := next(t, w)
	require.Equal(t, kv.EventResync, ev.Type, "rev %d was compacted: the watch must resync", rev1)
	require.GreaterOrEqual(t, ev.Revision, rev4)
	var keys []string
	for _, e := range ev.State {
		keys = append(keys, fmt.Sprintf("%s=%d", e.Key, e.Value))
	}
	require.Equal(t, []string{"b=2", "c=3"}, keys)

	rev5, err := s.Put(ctx, "d", 4)
	require.NoError(t, err)
	ev = next(t, w)
	require.Equal(t, kv.EventPut, ev.Type)
	require.Equal(t, rev5, ev.Revision)
}

func TestWatchEndsOnlyWithItsContextOrClient(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t, coordtest.WithFullAccess("dials Endpoints itself"))
	ctx := ctxT(t)
	s, err := kv.New[int](n.Client(), "end")
	require.NoError(t, err)
	wctx, cancel := context.WithCancel(ctx)
	w, err := s.Watch(wctx)
	require.NoError(t, err)
	require.NoError(t, w.Err())
	cancel()
	select {
	case _, ok := <-w.Events():
		require.False(t, ok)
	case <-time.After(10 * time.Second):
		t.Fatal("watch did not end with its context")
	}
	<-w.Done()
	require.ErrorIs(t, w.Err(), context.Canceled)
	w.Close()
	w.Close()

	// A closed client ends the watch with an error, not silently.
	cli, err := clientv3.New(clientv3.Config{Endpoints: n.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	require.NoError(t, err)
	s2, err := kv.New[int](cli, "end")
	require.NoError(t, err)
	w2, err := s2.Watch(ctx)
	require.NoError(t, err)
	require.NoError(t, cli.Close())
	select {
	case <-w2.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("watch did not end when its client closed")
	}
	require.Error(t, w2.Err())
	require.NotErrorIs(t, w2.Err(), context.Canceled)
	t.Log(w2.Err())
}

// change is one event as seen by a watch, for comparing sequences.
type change struct {
	Rev    int64
	Key    string
	Delete bool
	Value  int
}

// collect gathers a watcher's events in the background.
type collector struct {
	mu      sync.Mutex
	changes []change
	resyncs int
	last    int64
}

func collect[T any](w *kv.Watcher[int]) *collector {
	c := &collector{}
	go func() {
		for ev := range w.Events() {
			c.mu.Lock()
			switch ev.Type {
			case kv.EventResync:
				c.resyncs++
			default:
				c.changes = append(c.changes, change{ev.Revision, ev.Entry.Key, ev.Type == kv.EventDelete, ev.Entry.Value})
			}
			c.last = ev.Revision
			c.mu.Unlock()
		}
	}()
	return c
}

func (c *collector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.changes)
}

func (c *collector) reached(rev int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last >= rev
}

// history is etcd's own record of the changes under prefix in [from, to],
// read with a plain watch once the test's faults are over.
func history(t *testing.T, cli *clientv3.Client, prefix string, from, to int64) []change {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var out []change
	for resp := range cli.Watch(ctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(from)) {
		require.NoError(t, resp.Err())
		for _, ev := range resp.Events {
			c := change{Rev: ev.Kv.ModRevision, Key: string(ev.Kv.Key[len(prefix):]), Delete: ev.Type == mvccpb.DELETE}
			if !c.Delete {
				fmt.Sscan(string(ev.Kv.Value), &c.Value)
			}
			out = append(out, c)
		}
		if len(out) > 0 && out[len(out)-1].Rev >= to {
			return out
		}
	}
	t.Fatalf("history up to %d not read: %v", to, ctx.Err())
	return nil
}

// writer puts and deletes keys under the store in the background, as many
// as it is asked for with more, ignoring failures: etcd's history says
// afterwards what happened.
type writer struct {
	tokens chan struct{}
	mu     sync.Mutex
	ok     int
	stop   func()
}

func startWriter(ctx context.Context, s *kv.Store[int]) *writer {
	ctx, cancel := context.WithCancel(ctx)
	w := &writer{tokens: make(chan struct{}, 100_000)}
	done := make(chan struct{})
	w.stop = func() { cancel(); <-done }
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-w.tokens:
			case <-ctx.Done():
				return
			}
			octx, ocancel := context.WithTimeout(ctx, time.Second)
			var err error
			if i%5 == 4 {
				_, _, err = s.Delete(octx, fmt.Sprintf("k%d", i%7))
			} else {
				_, err = s.Put(octx, fmt.Sprintf("k%d", i%7), i)
			}
			ocancel()
			if err == nil {
				w.mu.Lock()
				w.ok++
				w.mu.Unlock()
			}
		}
	}()
	return w
}

// more asks for n more writes and returns at once.
func (w *writer) more(n int) {
	for range n {
		w.tokens <- struct{}{}
	}
}

// succeeded is how many writes have succeeded so far.
func (w *writer) succeeded() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ok
}

// idle reports whether every requested write was made.
func (w *writer) idle() bool { return len(w.tokens) == 0 }

func TestWatchAcrossMemberRestartLosesAndRepeatsNothing(t *testing.T) {
	t.Parallel()
	c := coordtest.NewCluster(t, 3)
	ctx := ctxT(t)
	// The watcher talks to member 0 only; the writer to member 1.
	ws, err := kv.New[int](c.Member(0).Client(), "rs")
	require.NoError(t, err)
	wr, err := kv.New[int](c.Member(1).Client(), "rs")
	require.NoError(t, err)

	w, err := ws.Watch(ctx)
	require.NoError(t, err)
	defer w.Close()
	start := currentClusterRev(t, c.Member(1).Client())
	got := collect[int](w)
	wr1 := startWriter(ctx, wr)
	defer wr1.stop()

	wr1.more(40)
	require.Eventually(t, func() bool { return got.count() >= 20 }, 15*time.Second, 5*time.Millisecond)
	c.Member(0).Kill() // while writes are in flight
	mark := wr1.succeeded()
	wr1.more(40)
	require.Eventually(t, func() bool { return wr1.succeeded() >= mark+20 }, 15*time.Second, 5*time.Millisecond,
		"writes go on while the watcher's member is down")
	c.Member(0).Restart()
	wr1.more(40)
	require.Eventually(t, wr1.idle, 15*time.Second, 5*time.Millisecond)
	wr1.stop()

	end := currentClusterRev(t, c.Member(1).Client())
	require.Eventually(t, func() bool { return got.reached(end) }, 20*time.Second, 10*time.Millisecond,
		"the watcher catches up after the restart")
	want := history(t, c.Member(1).Client(), "rs/", start+1, end)
	got.mu.Lock()
	defer got.mu.Unlock()
	require.Equal(t, 0, got.resyncs)
	require.Equal(t, want, got.changes, "every change exactly once, in order")
	t.Logf("%d changes seen across the restart", len(want))
}

func TestWatchAcrossLeaderKillOnClusterClient(t *testing.T) {
	t.Parallel()
	c := coordtest.NewCluster(t, 3)
	ctx := ctxT(t)
	s, err := kv.New[int](c.Client(), "lk")
	require.NoError(t, err)
	w, err := s.Watch(ctx)
	require.NoError(t, err)
	defer w.Close()
	start := currentClusterRev(t, c.Client())
	got := collect[int](w)
	wr := startWriter(ctx, s)
	defer wr.stop()
	wr.more(40)
	require.Eventually(t, func() bool { return got.count() >= 20 }, 15*time.Second, 5*time.Millisecond)
	leader := c.Leader()
	c.Member(leader).Kill() // while writes are in flight
	mark := wr.succeeded()
	wr.more(40)
	require.Eventually(t, func() bool { return wr.succeeded() >= mark+20 }, 15*time.Second, 5*time.Millisecond)
	require.Eventually(t, wr.idle, 15*time.Second, 5*time.Millisecond)
	wr.stop()
	end := currentClusterRev(t, c.Client())
	require.Eventually(t, func() bool { return got.reached(end) }, 20*time.Second, 10*time.Millisecond)
	want := history(t, c.Client(), "lk/", start+1, end)
	got.mu.Lock()
	defer got.mu.Unlock()
	require.Equal(t, want, got.changes)
	c.Member(leader).Restart()
}

// disconnect cuts the link's connections and keeps new ones waiting, as a
// restarting router would. (Link.Blackhole is not used: it discards bytes of
// established connections, which TCP never does, so it loses watch events
// unnoticeably for any client.)
func disconnect(l *coordtest.Link) (reconnect func()) {
	l.PauseAccept()
	l.DropConnections()
	return l.UnpauseAccept
}

func TestWatchResumesAfterDroppedConnection(t *testing.T) {
	t.Parallel()
	n := coordtest.NewNode(t)
	ctx := ctxT(t)
	link := n.NewLink(t)
	ws, err := kv.New[int](link.Client(), "bh")
	require.NoError(t, err)
	wr, err := kv.New[int](n.Client(), "bh")
	require.NoError(t, err)

	w, err := ws.Watch(ctx)
	require.NoError(t, err)
	defer w.Close()
	start := currentRev(t, n)
	got := collect[int](w)
	for i := range 10 {
		_, err := wr.Put(ctx, "k", i)
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool { return got.count() == 10 }, 10*time.Second, 5*time.Millisecond)

	reconnect := disconnect(link)
	for i := 10; i < 30; i++ {
		_, err := wr.Put(ctx, fmt.Sprint("k", i%3), i)
		require.NoError(t, err)
	}
	reconnect()
	end := currentRev(t, n)
	require.Eventually(t, func() bool { return got.reached(end) }, 30*time.Second, 10*time.Millisecond)
	want := history(t, n.Client(), "bh/", start+1, end)
	got.mu.Lock()
	defer got.mu.Unlock()
	require.Equal(t, want, got.changes)
}

func TestWatchResyncsWhenHistoryCompactedWhileDisconnected(t *testing.T) {
	t.Parallel()
	n := coordtest.NewNode(t)
	ctx := ctxT(t)
	link := n.NewLink(t)
	ws, err := kv.New[int](link.Client(), "cd")
	require.NoError(t, err)
	wr, err := kv.New[int](n.Client(), "cd")
	require.NoError(t, err)
	w, err := ws.Watch(ctx)
	require.NoError(t, err)
	defer w.Close()

	_, err = wr.Put(ctx, "a", 1)
	require.NoError(t, err)
	require.Equal(t, kv.EventPut, next(t, w).Type)

	reconnect := disconnect(link)
	_, err = wr.Put(ctx, "b", 2)
	require.NoError(t, err)
	_, _, err = wr.Delete(ctx, "a")
	require.NoError(t, err)
	rev, err := wr.Put(ctx, "c", 3)
	require.NoError(t, err)
	_, err = n.Client().Compact(ctx, rev)
	require.NoError(t, err)
	reconnect()

	ev := next(t, w)
	require.Equal(t, kv.EventResync, ev.Type, "the missed changes were compacted away")
	require.GreaterOrEqual(t, ev.Revision, rev)
	require.Len(t, ev.State, 2)
	require.Equal(t, "b", ev.State[0].Key)
	require.Equal(t, "c", ev.State[1].Key)
	rev2, err := wr.Put(ctx, "d", 4)
	require.NoError(t, err)
	ev = next(t, w)
	require.Equal(t, rev2, ev.Revision)
}

func currentClusterRev(t *testing.T, cli *clientv3.Client) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, "rev-probe")
	require.NoError(t, err)
	return resp.Header.Revision
}

func TestWatchResumesAfterItsMemberLosesTheLeader(t *testing.T) {
	t.Parallel()
	c := coordtest.NewCluster(t, 3)
	ctx := ctxT(t)
	// The watcher's member is cut off from the others: with
	// WithRequireLeader etcd cancels its watch ("no leader") and the watch
	// must come back on its own once the partition heals.
	watched := 0
	if c.Leader() == 0 {
		watched = 1
	}
	logs := &recorder{}
	ws, err := kv.New[int](c.Member(watched).Client(), "pt", kv.WithLogger(slog.New(logs)))
	require.NoError(t, err)
	wr, err := kv.New[int](c.Member(c.Leader()).Client(), "pt")
	require.NoError(t, err)
	w, err := ws.Watch(ctx)
	require.NoError(t, err)
	defer w.Close()
	start := currentClusterRev(t, wr.Client())
	got := collect[int](w)

	_, err = wr.Put(ctx, "a", 1)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return got.count() == 1 }, 10*time.Second, 5*time.Millisecond)

	c.Partition(watched)
	// Wait until the cut-off member knows it has no leader: a serializable
	// read through it still works, a leader-requiring one fails.
	require.Eventually(t, func() bool {
		rctx, cancel := context.WithTimeout(clientv3.WithRequireLeader(ctx), 200*time.Millisecond)
		defer cancel()
		_, err := c.Member(watched).Client().Get(rctx, "x")
		return err != nil
	}, 10*time.Second, 20*time.Millisecond)
	for i := range 10 {
		_, err := wr.Put(ctx, fmt.Sprint("k", i), i)
		require.NoError(t, err)
	}
	// etcd cancels leaderless watches after 3 election timeouts; the watch
	// logs each failed attempt to resume.
	require.Eventually(t, func() bool { return logs.count("resuming") >= 2 }, 10*time.Second, 10*time.Millisecond,
		"etcd cancelled the watch (no leader)")
	c.Heal()
	end := currentClusterRev(t, wr.Client())
	require.Eventually(t, func() bool { return got.reached(end) }, 20*time.Second, 10*time.Millisecond)
	want := history(t, wr.Client(), "pt/", start+1, end)
	got.mu.Lock()
	defer got.mu.Unlock()
	require.Equal(t, want, got.changes)
	require.Equal(t, 0, got.resyncs)
}

// recorder is a slog.Handler that keeps messages ("LEVEL message
// key=value..."), to wait for one.
type recorder struct {
	mu   sync.Mutex
	msgs []string
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *recorder) WithGroup(string) slog.Handler            { return r }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	b.WriteString(rec.Level.String() + " " + rec.Message)
	rec.Attrs(func(a slog.Attr) bool { b.WriteString(" " + a.String()); return true })
	r.msgs = append(r.msgs, b.String())
	return nil
}

func (r *recorder) count(substr string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, m := range r.msgs {
		if strings.Contains(m, substr) {
			n++
		}
	}
	return n
}

// etcd omits an event's previous value when the revision before the event
// is compacted: such an event says its Prev is unknown, never that the key
// did not exist.
func TestWatchPrevValueCompactedIsUnknownNotAbsent(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t, coordtest.WithFullAccess("compacts the history"))
	n.RequireVersion(t, "3.6", "etcd-io/etcd#18089: older servers, 3.4.23 among them, drop a deletion at the compaction revision from a watch that starts there; fixed by etcd-io/etcd#18274, backported to late 3.4 and 3.5 patch releases")
	ctx := ctxT(t)
	cli := n.Client()
	s, err := kv.New[int](cli, "pc")
	require.NoError(t, err)
	_, err = s.Put(ctx, "a", 1)
	require.NoError(t, err)
	_, err = s.Put(ctx, "b", 1)
	require.NoError(t, err)
	// One revision holds an overwrite, a deletion and a creation.
	resp, err := cli.Txn(ctx).Then(
		clientv3.OpPut("pc/a", "2"), clientv3.OpDelete("pc/b"), clientv3.OpPut("pc/c", "1"),
	).Commit()
	require.NoError(t, err)
	rev := resp.Header.Revision
	_, err = cli.Compact(ctx, rev) // rev-1, where the previous values are, is gone
	require.NoError(t, err)

	w, err := s.Watch(ctx, kv.FromRevision(rev), kv.WithPrevValue())
	require.NoError(t, err)
	defer w.Close()
	rev2, err := s.Put(ctx, "a", 3)
	require.NoError(t, err)

	ev := next(t, w)
	require.Equal(t, kv.EventPut, ev.Type)
	require.Equal(t, "a", ev.Entry.Key)
	require.Equal(t, rev, ev.Revision)
	require.Nil(t, ev.Prev)
	require.True(t, ev.PrevUnknown, "an overwrite whose previous value etcd dropped")
	require.NoError(t, ev.Err, "the change itself is sound")

	ev = next(t, w)
	require.Equal(t, kv.EventDelete, ev.Type)
	require.Equal(t, "b", ev.Entry.Key)
	require.Nil(t, ev.Prev)
	require.True(t, ev.PrevUnknown, "a deletion whose previous value etcd dropped")

	ev = next(t, w)
	require.Equal(t, kv.EventPut, ev.Type)
	require.Equal(t, "c", ev.Entry.Key)
	require.Nil(t, ev.Prev)
	require.False(t, ev.PrevUnknown, "a creation: the key did not exist")

	ev = next(t, w)
	require.Equal(t, rev2, ev.Revision)
	require.NotNil(t, ev.Prev)
	require.Equal(t, 2, ev.Prev.Value)
	require.False(t, ev.PrevUnknown)
}
