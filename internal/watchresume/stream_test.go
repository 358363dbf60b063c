package watchresume

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/coordkit/coordkit/coordtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// nextWithin calls Next, failing the test if it takes too long.
func nextWithin(t *testing.T, s *Stream) (Update, error) {
	t.Helper()
	type r struct {
		u   Update
		err error
	}
	c := make(chan r, 1)
	go func() { u, err := s.Next(); c <- r{u, err} }()
	select {
	case x := <-c:
		return x.u, x.err
	case <-time.After(15 * time.Second):
		s.Close()
		<-c
		t.Fatal("Next blocked for 15s")
		return Update{}, nil
	}
}

func TestListPagesAtOneRevision(t *testing.T) {
	t.Parallel()
	n := coordtest.NewNode(t)
	ctx := context.Background()
	cli := n.Client()
	for i := range 25 {
		_, err := cli.Put(ctx, fmt.Sprintf("p/%02d", i), "v")
		require.NoError(t, err)
	}
	_, err := cli.Put(ctx, "p0", "outside the prefix")
	require.NoError(t, err)
	kvs, rev, err := List(ctx, cli, Prefix("p/"), ListOptions{PageSize: 4})
	require.NoError(t, err)
	require.Len(t, kvs, 25)
	for i, kv := range kvs {
		require.Equal(t, fmt.Sprintf("p/%02d", i), string(kv.Key))
	}
	_, err = cli.Delete(ctx, "p/", clientv3.WithPrefix())
	require.NoError(t, err)
	past, prev, err := List(ctx, cli, Prefix("p/"), ListOptions{PageSize: 4, Revision: rev, Serializable: true})
	require.NoError(t, err)
	require.Equal(t, rev, prev)
	require.Len(t, past, 25)

	// The whole keyspace, and a single key.
	all, _, err := List(ctx, cli, Prefix(""), ListOptions{PageSize: 1})
	require.NoError(t, err)
	require.Len(t, all, 1)
	one, _, err := List(ctx, cli, Range{Key: "p0"}, ListOptions{})
	require.NoError(t, err)
	require.Len(t, one, 1)

	_, err = cli.Compact(ctx, rev+1)
	require.NoError(t, err)
	_, _, err = List(ctx, cli, Prefix("p/"), ListOptions{Revision: rev})
	require.Error(t, err)
	require.Contains(t, err.Error(), "compacted")
}

func TestOpenValidates(t *testing.T) {
	t.Parallel()
	n := coordtest.NewNode(t)
	ctx := context.Background()
	_, err := Open(ctx, nil, Config{})
	require.Error(t, err)
	_, err = Open(ctx, n.Client(), Config{Range: Prefix("x/"), Revision: -1})
	require.Error(t, err)
	_, err = Open(ctx, n.Client(), Config{Range: Prefix("x/"), Revision: 3, Snapshot: true})
	require.Error(t, err)
}

func TestStreamDeliversResyncsAndEnds(t *testing.T) {
	t.Parallel()
	n := coordtest.NewNode(t)
	ctx := context.Background()
	cli := n.Client()
	r1, err := cli.Put(ctx, "s/a", "1")
	require.NoError(t, err)

	s, err := Open(ctx, cli, Config{Range: Prefix("s/"), Snapshot: true, PrevKV: true})
	require.NoError(t, err)
	u, err := nextWithin(t, s)
	require.NoError(t, err)
	require.True(t, u.Resync)
	require.Len(t, u.KVs, 1)
	require.Equal(t, r1.Header.Revision, u.Revision)

	r2, err := cli.Put(ctx, "s/a", "2")
	require.NoError(t, err)
	u, err = nextWithin(t, s)
	require.NoError(t, err)
	require.False(t, u.Resync)
	require.Len(t, u.Events, 1)
	require.Equal(t, r2.Header.Revision, u.Revision)
	require.Equal(t, "1", string(u.Events[0].PrevKv.Value))
	require.Equal(t, r2.Header.Revision, s.Revision())
	s.Close()
	s.Close()
	_, err = nextWithin(t, s)
	require.ErrorIs(t, err, context.Canceled)

	// From a compacted revision: a resync with the compaction revision.
	r3, err := cli.Put(ctx, "s/b", "3")
	require.NoError(t, err)
	_, err = cli.Compact(ctx, r3.Header.Revision)
	require.NoError(t, err)
	s2, err := Open(ctx, cli, Config{Range: Prefix("s/"), Revision: r1.Header.Revision})
	require.NoError(t, err)
	defer s2.Close()
	u, err = nextWithin(t, s2)
	require.NoError(t, err)
	require.True(t, u.Resync)
	require.Equal(t, r3.Header.Revision, u.CompactRevision)
	require.Len(t, u.KVs, 2)

	// A closed client ends the stream with ErrClientClosed.
	own, err := clientv3.New(clientv3.Config{Endpoints: n.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	require.NoError(t, err)
	s3, err := Open(ctx, own, Config{Range: Prefix("s/")})
	require.NoError(t, err)
	defer s3.Close()
	require.NoError(t, own.Close())
	_, err = nextWithin(t, s3)
	require.ErrorIs(t, err, ErrClientClosed)
}

func TestFreshDropsRepeats(t *testing.T) {
	evs := []*clientv3.Event{
		{Kv: &mvccpb.KeyValue{ModRevision: 4}},
		{Kv: &mvccpb.KeyValue{ModRevision: 5}},
		{Kv: &mvccpb.KeyValue{ModRevision: 5}},
		{Kv: &mvccpb.KeyValue{ModRevision: 7}},
	}
	require.Len(t, Fresh(evs, 3), 4)
	require.Len(t, Fresh(evs, 4), 3)
	require.Len(t, Fresh(evs, 5), 1)
	require.Empty(t, Fresh(evs, 7))
}

// A Stream on an idle store does not silence progress notifications on its
// gRPC watch stream: etcd 3.6+ withholds them from every watch of a stream
// while one of its watchers starts ahead of the store.
func TestIdleStreamLeavesProgressAnswered(t *testing.T) {
	t.Parallel()
	n := coordtest.NewNode(t)
	ctx := context.Background()
	cli := n.NewClient(t)
	_, err := cli.Put(ctx, "s/a", "1")
	require.NoError(t, err)
	s, err := Open(ctx, cli, Config{Range: Prefix("s/")})
	require.NoError(t, err)
	defer s.Close()
	s.openWatch() // returns once etcd has created the watch

	// Another watch on the same gRPC stream (same outgoing metadata).
	stream := clientv3.WithRequireLeader(ctx)
	wctx, cancel := context.WithCancel(stream)
	defer cancel()
	other := cli.Watch(wctx, "elsewhere")
	deadline := time.After(10 * time.Second)
	for {
		require.NoError(t, cli.RequestProgress(stream))
		select {
		case resp := <-other:
			if resp.IsProgressNotify() {
				require.Equal(t, s.Revision(), resp.Header.Revision, "the store stayed idle")
				return
			}
		case <-time.After(100 * time.Millisecond): // not answered: ask again
		case <-deadline:
			t.Fatal("no progress notification on the idle store within 10s: a watcher is ahead of the store")
		}
	}
}

// A Stream from exactly the compaction revision delivers its changes: the
// watch starts one revision earlier, which is compacted, and steps forward
// instead of resyncing.
func TestStreamFromCompactionRevisionIsNoResync(t *testing.T) {
	t.Parallel()
	n := coordtest.NewNode(t)
	ctx := context.Background()
	cli := n.Client()
	_, err := cli.Put(ctx, "c/a", "1")
	require.NoError(t, err)
	r2, err := cli.Put(ctx, "c/a", "2")
	require.NoError(t, err)
	_, err = cli.Compact(ctx, r2.Header.Revision)
	require.NoError(t, err)
	s, err := Open(ctx, cli, Config{Range: Prefix("c/"), Revision: r2.Header.Revision})
	require.NoError(t, err)
	defer s.Close()
	u, err := nextWithin(t, s)
	require.NoError(t, err)
	require.False(t, u.Resync)
	require.Len(t, u.Events, 1)
	require.Equal(t, r2.Header.Revision, u.Revision)
	require.Equal(t, "2", string(u.Events[0].Kv.Value))
}

// TestListSizesPagesByBytes: without a page size, pages after the first
// follow PageBytes, and the keys still come whole and in order.
func TestListSizesPagesByBytes(t *testing.T) {
	t.Parallel()
	n := coordtest.NewNode(t)
	ctx := context.Background()
	cli := n.Client()
	const keys = DefaultPageSize + 300
	for i := range keys {
		_, err := cli.Put(ctx, fmt.Sprintf("b/%05d", i), strings.Repeat("v", i%50))
		require.NoError(t, err)
	}
	kvs, rev, err := List(ctx, cli, Prefix("b/"), ListOptions{PageBytes: 2000})
	require.NoError(t, err)
	require.Len(t, kvs, keys)
	for i, kv := range kvs {
		require.Equal(t, fmt.Sprintf("b/%05d", i), string(kv.Key))
		require.Len(t, kv.Value, i%50)
	}
	resp, err := cli.Get(ctx, "b/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	require.NoError(t, err)
	require.Equal(t, resp.Header.Revision, rev)
}
