package kv_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/coordkit/coordkit/coordtest"
	"github.com/coordkit/coordkit/kv"
)

type user struct {
	Name string `json:"name"`
	Age  int    `json:"age"`
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestPutGetRoundTripWithMetadata(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t)
	ctx := ctxT(t)
	for name, cli := range map[string]*clientv3.Client{"in-process": n.Client(), "grpc": n.NewClient(t)} {
		t.Run(name, func(t *testing.T) {
			users, err := kv.New[user](cli, "users-"+name)
			require.NoError(t, err)
			require.Equal(t, "users-"+name+"/", users.Prefix())

			rev1, err := users.Put(ctx, "ada", user{"Ada", 36})
			require.NoError(t, err)
			e, err := users.Get(ctx, "ada")
			require.NoError(t, err)
			require.Equal(t, kv.Entry[user]{Key: "ada", Value: user{"Ada", 36}, CreateRevision: rev1, ModRevision: rev1, Version: 1}, e)

			rev2, err := users.Put(ctx, "ada", user{"Ada", 37})
			require.NoError(t, err)
			require.Greater(t, rev2, rev1)
			e, err = users.Get(ctx, "ada")
			require.NoError(t, err)
			require.Equal(t, kv.Entry[user]{Key: "ada", Value: user{"Ada", 37}, CreateRevision: rev1, ModRevision: rev2, Version: 2}, e)

			// The value is JSON under the normalised key, readable by anyone.
			raw, err := cli.Get(ctx, "users-"+name+"/ada")
			require.NoError(t, err)
			require.JSONEq(t, `{"name":"Ada","age":37}`, string(raw.Kvs[0].Value))

			// Past revision and serializable reads.
			old, err := users.Get(ctx, "ada", kv.AtRevision(rev1))
			require.NoError(t, err)
			require.Equal(t, 36, old.Value.Age)
			ser, err := users.Get(ctx, "ada", kv.Serializable())
			require.NoError(t, err)
			require.Equal(t, 37, ser.Value.Age)

			_, err = users.Get(ctx, "nobody")
			require.ErrorIs(t, err, kv.ErrNotFound)
			require.Contains(t, err.Error(), `"users-`+name+`/nobody"`)
		})
	}
}

func TestPrefixIsolation(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t)
	ctx := ctxT(t)
	svc, err := kv.New[string](n.Client(), "svc", kv.WithCodec(kv.StringCodec))
	require.NoError(t, err)
	svc2, err := kv.New[string](n.Client(), "svc2/", kv.WithCodec(kv.StringCodec))
	require.NoError(t, err)
	_, err = svc.Put(ctx, "a", "1")
	require.NoError(t, err)
	_, err = svc2.Put(ctx, "a", "2")
	require.NoError(t, err)
	_, err = n.Client().Put(ctx, "svc", "the bare prefix key")
	require.NoError(t, err)

	got, _, err := svc.List(ctx)
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, "a", got[0].Key)
	require.Equal(t, "1", got[0].Value)
	_, err = svc.Get(ctx, "2/a")
	require.ErrorIs(t, err, kv.ErrNotFound, "svc/2/a is not svc2/a")

	// The empty prefix is the whole keyspace, like etcdctl get "" --prefix.
	all, err := kv.New[string](n.Client(), "", kv.WithCodec(kv.StringCodec))
	require.NoError(t, err)
	everything, _, err := all.List(ctx)
	require.NoError(t, err)
	var keys []string
	for _, e := range everything {
		keys = append(keys, e.Key)
	}
	require.Equal(t, []string{"svc", "svc/a", "svc2/a"}, keys)
}

func TestStringAndBytesCodecsStoreRawValues(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t)
	ctx := ctxT(t)
	_, err := n.Client().Put(ctx, "raw/name", "eric") // as etcdctl put would
	require.NoError(t, err)

	strs, err := kv.New[string](n.Client(), "raw", kv.WithCodec(kv.StringCodec))
	require.NoError(t, err)
	e, err := strs.Get(ctx, "name")
	require.NoError(t, err)
	require.Equal(t, "eric", e.Value)

	blobs, err := kv.New[[]byte](n.Client(), "raw", kv.WithCodec(kv.BytesCodec))
	require.NoError(t, err)
	_, err = blobs.Put(ctx, "blob", []byte{0, 1, 0xff})
	require.NoError(t, err)
	b, err := blobs.Get(ctx, "blob")
	require.NoError(t, err)
	require.Equal(t, []byte{0, 1, 0xff}, b.Value)
	_, err = blobs.Put(ctx, "empty", nil)
	require.NoError(t, err)
	b, err = blobs.Get(ctx, "empty")
	require.NoError(t, err)
	require.Equal(t, []byte{}, b.Value)

	// A JSON store cannot read "eric": the error names the key.
	js, err := kv.New[string](n.Client(), "raw")
	require.NoError(t, err)
	_, err = js.Get(ctx, "name")
	require.ErrorIs(t, err, kv.ErrCodec)
	require.Contains(t, err.Error(), `"raw/name"`)
}

func TestPutWithLeaseAndSwapReturnsPrevious(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t)
	ctx := ctxT(t)
	cli := n.Client()
	s, err := kv.New[string](cli, "names", kv.WithCodec(kv.StringCodec))
	require.NoError(t, err)

	g, err := cli.Grant(ctx, 60)
	require.NoError(t, err)
	_, err = s.Put(ctx, "name", "eric", kv.WithLease(g.ID))
	require.NoError(t, err)
	e, err := s.Get(ctx, "name")
	require.NoError(t, err)
	require.Equal(t, g.ID, e.Lease)

	prev, rev, err := s.Swap(ctx, "name", "ada")
	require.NoError(t, err)
	require.NotNil(t, prev)
	require.Equal(t, "eric", prev.Value)
	require.Equal(t, g.ID, prev.Lease)
	require.Equal(t, e.ModRevision, prev.ModRevision)
	e, err = s.Get(ctx, "name")
	require.NoError(t, err)
	require.Equal(t, rev, e.ModRevision)
	require.Equal(t, clientv3.LeaseID(0), e.Lease, "a put without lease detaches the key, as in etcd")

	prev, _, err = s.Swap(ctx, "fresh", "x")
	require.NoError(t, err)
	require.Nil(t, prev)

	// Revoking the lease deletes keys attached to it; a revoked lease is refused.
	_, err = s.Put(ctx, "leased", "y", kv.WithLease(g.ID))
	require.NoError(t, err)
	_, err = cli.Revoke(ctx, g.ID)
	require.NoError(t, err)
	_, err = s.Get(ctx, "leased")
	require.ErrorIs(t, err, kv.ErrNotFound)
	_, err = s.Put(ctx, "leased", "z", kv.WithLease(g.ID))
	require.ErrorIs(t, err, kv.ErrLeaseNotFound)
	require.NotErrorIs(t, err, kv.ErrUnknownOutcome)
	_, err = s.Put(ctx, "x", "z", kv.WithLease(-1))
	require.ErrorIs(t, err, kv.ErrInvalidArgument)
}

func TestCreateDeleteCompareAndSwapCompareAndDelete(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t)
	ctx := ctxT(t)
	s, err := kv.New[int](n.Client(), "cas")
	require.NoError(t, err)

	rev, err := s.Create(ctx, "k", 1)
	require.NoError(t, err)
	_, err = s.Create(ctx, "k", 2)
	require.ErrorIs(t, err, kv.ErrExists)
	require.Contains(t, err.Error(), fmt.Sprintf("mod revision %d", rev))
	e, err := s.Get(ctx, "k")
	require.NoError(t, err)
	require.Equal(t, 1, e.Value, "a failed Create writes nothing")

	_, err = s.CompareAndSwap(ctx, "k", rev-1, 5)
	require.ErrorIs(t, err, kv.ErrConflict)
	require.NotErrorIs(t, err, kv.ErrNotFound)
	rev2, err := s.CompareAndSwap(ctx, "k", rev, 5)
	require.NoError(t, err)
	_, err = s.CompareAndSwap(ctx, "k", rev, 6)
	require.ErrorIs(t, err, kv.ErrConflict, "the old mod revision no longer matches")
	// Mod revision 0 means "only if absent".
	_, err = s.CompareAndSwap(ctx, "k", 0, 7)
	require.ErrorIs(t, err, kv.ErrConflict)
	_, err = s.CompareAndSwap(ctx, "new", 0, 7)
	require.NoError(t, err)
	_, err = s.CompareAndSwap(ctx, "k", -1, 7)
	require.ErrorIs(t, err, kv.ErrInvalidArgument)

	_, err = s.CompareAndDelete(ctx, "k", rev)
	require.ErrorIs(t, err, kv.ErrConflict)
	_, err = s.CompareAndDelete(ctx, "k", 0)
	require.ErrorIs(t, err, kv.ErrInvalidArgument)
	drev, err := s.CompareAndDelete(ctx, "k", rev2)
	require.NoError(t, err)
	require.Greater(t, drev, rev2)
	_, err = s.CompareAndDelete(ctx, "k", rev2)
	require.ErrorIs(t, err, kv.ErrConflict)
	require.ErrorIs(t, err, kv.ErrNotFound, "the key is gone")
	_, err = s.CompareAndSwap(ctx, "k", rev2, 1)
	require.ErrorIs(t, err, kv.ErrNotFound)

	existed, _, err := s.Delete(ctx, "new")
	require.NoError(t, err)
	require.True(t, existed)
	existed, _, err = s.Delete(ctx, "new")
	require.NoError(t, err)
	require.False(t, existed)

	// Create after delete works again.
	_, err = s.Create(ctx, "k", 9)
	require.NoError(t, err)
}

func TestListIsPagedAtOneRevision(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t, coordtest.WithFullAccess("compacts the history"))
	ctx := ctxT(t)
	// Page size 7 forces many pages; writes after the first page must not show.
	s, err := kv.New[int](n.Client(), "list", kv.WithPageSize(7))
	require.NoError(t, err)
	const total = 100
	for i := range total {
		_, err := s.Put(ctx, fmt.Sprintf("k%03d", i), i)
		require.NoError(t, err)
	}
	entries, rev, err := s.List(ctx)
	require.NoError(t, err)
	require.Len(t, entries, total)
	for i, e := range entries {
		require.Equal(t, fmt.Sprintf("k%03d", i), e.Key)
		require.Equal(t, i, e.Value)
	}

	// Change everything, then list the past revision.
	for i := range total {
		_, err := s.Put(ctx, fmt.Sprintf("k%03d", i), -i)
		require.NoError(t, err)
	}
	_, err = s.Put(ctx, "zzz", 1)
	require.NoError(t, err)
	past, prev, err := s.List(ctx, kv.AtRevision(rev))
	require.NoError(t, err)
	require.Equal(t, rev, prev)
	require.Equal(t, entries, past)
	now, nrev, err := s.List(ctx)
	require.NoError(t, err)
	require.Len(t, now, total+1)
	require.Greater(t, nrev, rev)

	// Compacted history.
	_, err = n.Client().Compact(ctx, nrev)
	require.NoError(t, err)
	_, _, err = s.List(ctx, kv.AtRevision(rev))
	require.ErrorIs(t, err, kv.ErrCompacted)
	_, err = s.Get(ctx, "k001", kv.AtRevision(rev))
	require.ErrorIs(t, err, kv.ErrCompacted)
	_, err = s.Get(ctx, "k001", kv.AtRevision(nrev+1000))
	require.ErrorIs(t, err, kv.ErrFutureRevision)
	_, _, err = s.List(ctx, kv.AtRevision(0))
	require.ErrorIs(t, err, kv.ErrInvalidArgument)

	// A value another codec wrote: List keeps the rest and names the bad key.
	_, err = n.Client().Put(ctx, "list/k050", "not json")
	require.NoError(t, err)
	got, _, err := s.List(ctx)
	require.ErrorIs(t, err, kv.ErrCodec)
	require.Contains(t, err.Error(), `"list/k050"`)
	require.Len(t, got, total)
}

func TestList100kKeys(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 100,000 keys")
	}
	t.Parallel()
	n := coordtest.NewServer(t, coordtest.WithQuota(1<<30), coordtest.WithFullAccess("dials Endpoints itself, with a larger message size limit"))
	// A hang guard, not a timing bound: 100,000 writes take over 20 s under
	// -race beside the package's other tests on 2 cores.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := kv.New[[]byte](n.Client(), "big", kv.WithCodec(kv.BytesCodec))
	require.NoError(t, err)
	// 100,000 keys of 100 bytes: a single unpaged range response would be
	// ~12 MB, and the gRPC client's default is not what we rely on.
	b, err := s.Batcher()
	require.NoError(t, err)
	defer b.Close(context.Background())
	const total = 100_000
	val := make([]byte, 100)
	errs := make(chan error, 64)
	for w := range 64 {
		go func() {
			for i := w; i < total; i += 64 {
				if _, err := b.Put(ctx, fmt.Sprintf("%06d", i), val); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range 64 {
		require.NoError(t, <-errs)
	}
	// A gRPC client that accepts messages of at most 2 MiB: an unpaged list
	// (~12 MB) would fail on it.
	small, err := clientv3.New(clientv3.Config{
		Endpoints: n.Endpoints(), DialTimeout: 5 * time.Second, MaxCallRecvMsgSize: 2 << 20,
		Logger: zap.NewNop(),
	})
	require.NoError(t, err)
	defer small.Close()
	for _, cli := range []*clientv3.Client{n.Client(), small} {
		s, err := kv.New[[]byte](cli, "big", kv.WithCodec(kv.BytesCodec))
		require.NoError(t, err)
		entries, _, err := s.List(ctx)
		require.NoError(t, err)
		require.Len(t, entries, total)
		for i := 0; i < total; i += 9973 {
			require.Equal(t, fmt.Sprintf("%06d", i), entries[i].Key)
		}
	}
}

func TestNewRejectsBadArguments(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t)
	_, err := kv.New[int](nil, "x")
	require.ErrorIs(t, err, kv.ErrInvalidArgument)
	_, err = kv.New[int](n.Client(), "x", kv.WithCodec(kv.StringCodec))
	require.ErrorIs(t, err, kv.ErrInvalidArgument)
	require.Contains(t, err.Error(), "Codec[int]")
	_, err = kv.New[string](n.Client(), "x", kv.WithCodec[string](nil))
	require.ErrorIs(t, err, kv.ErrInvalidArgument)
	_, err = kv.New[int](n.Client(), "x", kv.WithPageSize(0))
	require.ErrorIs(t, err, kv.ErrInvalidArgument)
	_, err = kv.New[int](n.Client(), "x", kv.WithMaxRequestBytes(10))
	require.ErrorIs(t, err, kv.ErrInvalidArgument)
	_, err = kv.New[int](n.Client(), "x", kv.WithUpdateRetry(0, time.Millisecond, time.Second))
	require.ErrorIs(t, err, kv.ErrInvalidArgument)
	_, err = kv.New[int](n.Client(), string(make([]byte, kv.MaxRequestBytes)))
	require.ErrorIs(t, err, kv.ErrTooLarge)
	s, err := kv.New[int](n.Client(), "x")
	require.NoError(t, err)
	_, err = s.Batcher(kv.WithMaxBatch(0))
	require.ErrorIs(t, err, kv.ErrInvalidArgument)
	_, err = s.Batcher(kv.WithMaxInFlight(0))
	require.ErrorIs(t, err, kv.ErrInvalidArgument)
	_, err = s.Batcher(kv.WithTxnTimeout(0))
	require.ErrorIs(t, err, kv.ErrInvalidArgument)
	_, err = s.Batcher(kv.WithMaxPending(0))
	require.ErrorIs(t, err, kv.ErrInvalidArgument)
	_, err = s.Watch(context.Background(), kv.FromRevision(-3))
	require.ErrorIs(t, err, kv.ErrInvalidArgument)
	_, err = s.Watch(context.Background(), kv.FromRevision(3), kv.WithInitialState())
	require.ErrorIs(t, err, kv.ErrInvalidArgument)
}

// errorsIsAny is errors.Is for any of targets.
func errorsIsAny(err error, targets ...error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}

// A context that already carries outgoing gRPC metadata (a caller's own, or
// clientv3.WithRequireLeader) must work like any other: every call of the
// store, not a stack overflow.
func TestCallsAcceptContextWithOutgoingMetadata(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t)
	ctx := clientv3.WithRequireLeader(ctxT(t))
	s, err := kv.New[int](n.NewClient(t), "md")
	require.NoError(t, err)
	_, err = s.Put(ctx, "a", 1)
	require.NoError(t, err)
	_, err = s.Get(ctx, "a")
	require.NoError(t, err)
	_, _, err = s.List(ctx)
	require.NoError(t, err)
	e, err := s.Update(ctx, "a", func(old int, _ bool) (int, error) { return old + 1, nil })
	require.NoError(t, err)
	require.Equal(t, 2, e.Value)
	_, err = s.Create(ctx, "b", 1)
	require.NoError(t, err)
	existed, _, err := s.Delete(ctx, "b")
	require.NoError(t, err)
	require.True(t, existed)
}

// A write whose context has ended is not sent: ErrRejected (definitely not
// applied, as lock's and election's fenced writes say it), with the
// context's error, never ErrUnknownOutcome.
func TestWriteWithEndedContextIsRejected(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t)
	s, err := kv.New[int](n.Client(), "ended")
	require.NoError(t, err)
	_, err = s.Put(ctxT(t), "a", 1)
	require.NoError(t, err)
	b, err := s.Batcher()
	require.NoError(t, err)
	defer b.Close(context.Background())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for name, write := range map[string]func() error{
		"Put":            func() error { _, err := s.Put(ctx, "a", 2); return err },
		"Create":         func() error { _, err := s.Create(ctx, "b", 2); return err },
		"Delete":         func() error { _, _, err := s.Delete(ctx, "a"); return err },
		"CompareAndSwap": func() error { _, err := s.CompareAndSwap(ctx, "a", 1, 2); return err },
		"Batcher.Put":    func() error { _, err := b.Put(ctx, "a", 2); return err },
	} {
		err := write()
		require.ErrorIs(t, err, kv.ErrRejected, name)
		require.ErrorIs(t, err, context.Canceled, name)
		require.NotErrorIs(t, err, kv.ErrUnknownOutcome, name)
	}
	e, err := s.Get(ctxT(t), "a")
	require.NoError(t, err)
	require.Equal(t, 1, e.Value, "nothing was written")
}

// A member without a leader refuses writes at once: every write reports
// ErrRejected (definitely not applied), never ErrUnknownOutcome.
func TestWriteToLeaderlessMemberIsRejected(t *testing.T) {
	t.Parallel()
	c := coordtest.NewCluster(t, 3)
	ctx := ctxT(t)
	cut := (c.Leader() + 1) % 3
	s, err := kv.New[int](c.Member(cut).Client(), "nl")
	require.NoError(t, err)
	c.Partition(cut)
	defer c.Heal()
	require.Eventually(t, func() bool {
		rctx, cancel := context.WithTimeout(clientv3.WithRequireLeader(ctx), 200*time.Millisecond)
		defer cancel()
		_, err := c.Member(cut).Client().Get(rctx, "x")
		return err != nil
	}, 10*time.Second, 20*time.Millisecond, "the cut-off member never lost its leader")

	_, err = s.Put(ctx, "a", 1)
	require.ErrorIs(t, err, kv.ErrRejected)
	require.NotErrorIs(t, err, kv.ErrUnknownOutcome)
	t.Log(err)
	_, err = s.Create(ctx, "a", 1)
	require.ErrorIs(t, err, kv.ErrRejected)
	_, _, err = s.Delete(ctx, "a")
	require.ErrorIs(t, err, kv.ErrRejected)
	b, err := s.Batcher()
	require.NoError(t, err)
	defer b.Close(context.Background())
	_, err = b.Put(ctx, "a", 1)
	require.ErrorIs(t, err, kv.ErrRejected)
	require.NotErrorIs(t, err, kv.ErrUnknownOutcome)

	c.Heal()
	whole, err := kv.New[int](c.Client(), "nl")
	require.NoError(t, err)
	all, _, err := whole.List(ctx)
	require.NoError(t, err)
	require.Empty(t, all, "nothing was applied")
}

// A write on a closed client is never sent: every write reports
// ErrRejected (definitely not applied), never ErrUnknownOutcome.
func TestWriteOnClosedClientIsRejected(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t)
	ctx := ctxT(t)
	cli := n.NewClient(t)
	s, err := kv.New[int](cli, "closed")
	require.NoError(t, err)
	rev, err := s.Put(ctx, "a", 1)
	require.NoError(t, err)
	b, err := s.Batcher()
	require.NoError(t, err)
	defer b.Close(context.Background())
	require.NoError(t, cli.Close())

	rejected := func(what string, err error) {
		t.Helper()
		require.ErrorIs(t, err, kv.ErrRejected, what)
		require.NotErrorIs(t, err, kv.ErrUnknownOutcome, what)
		require.Contains(t, err.Error(), "client closed", what)
	}
	_, err = s.Put(ctx, "a", 2)
	rejected("put", err)
	_, _, err = s.Swap(ctx, "a", 2)
	rejected("swap", err)
	_, err = s.Create(ctx, "b", 1)
	rejected("create", err)
	_, _, err = s.Delete(ctx, "a")
	rejected("delete", err)
	_, err = s.CompareAndSwap(ctx, "a", rev, 2)
	rejected("compare-and-swap", err)
	_, err = s.CompareAndDelete(ctx, "a", rev)
	rejected("compare-and-delete", err)
	_, err = b.Put(ctx, "a", 2)
	rejected("batched put", err)
	_, _, err = b.Delete(ctx, "a")
	rejected("batched delete", err)

	other, err := kv.New[int](n.Client(), "closed")
	require.NoError(t, err)
	e, err := other.Get(ctx, "a")
	require.NoError(t, err)
	require.Equal(t, 1, e.Value)
	require.Equal(t, rev, e.ModRevision, "nothing was applied")
}

// A write through the in-process client of a node that stopped was never
// sent: ErrMemberStopped with ErrRejected, not ErrUnknownOutcome; a read
// says the member stopped too.
func TestStoppedMemberIsTyped(t *testing.T) {
	t.Parallel()
	n := coordtest.NewNode(t)
	ctx := ctxT(t)
	s, err := kv.New[int](n.Client(), "stopped")
	require.NoError(t, err)
	_, err = s.Put(ctx, "a", 1)
	require.NoError(t, err)
	w, err := s.Watch(ctx)
	require.NoError(t, err)
	defer w.Close()
	require.NoError(t, n.Kill())

	_, err = s.Put(ctx, "a", 2)
	require.ErrorIs(t, err, kv.ErrMemberStopped)
	require.ErrorIs(t, err, kv.ErrRejected)
	require.NotErrorIs(t, err, kv.ErrUnknownOutcome)
	require.True(t, strings.HasPrefix(err.Error(), `kv: put "stopped/a": `), err.Error())
	_, err = s.Get(ctx, "a")
	require.ErrorIs(t, err, kv.ErrMemberStopped)
	select {
	case <-w.Done():
	case <-ctx.Done():
		t.Fatal("the watch of a stopped member's client did not end")
	}
	require.ErrorIs(t, w.Err(), kv.ErrMemberStopped)
}
