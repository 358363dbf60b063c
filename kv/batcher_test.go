package kv_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/server/v3/embed"

	"github.com/coordkit/coordkit/coordtest"
	"github.com/coordkit/coordkit/kv"
)

// fanOut runs f(i) for i in [0, n) on n goroutines, released together.
func fanOut(n int, f func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			f(i)
		}()
	}
	close(start)
	wg.Wait()
}

func TestBatcherCoalescesAndAnswersEachCaller(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t)
	ctx := ctxT(t)
	s, err := kv.New[int](n.Client(), "b")
	require.NoError(t, err)
	b, err := s.Batcher()
	require.NoError(t, err)
	defer b.Close(context.Background())

	const writers, each = 64, 20
	revs := make([][]int64, writers)
	fanOut(writers, func(w int) {
		for i := range each {
			rev, err := b.Put(ctx, fmt.Sprintf("w%02d/%02d", w, i), w*1000+i)
			if !assertNoError(t, err) {
				return
			}
			revs[w] = append(revs[w], rev)
		}
	})
	txns := map[int64]bool{}
	for w := range writers {
		require.Len(t, revs[w], each)
		for i, rev := range revs[w] {
			e, err := s.Get(ctx, fmt.Sprintf("w%02d/%02d", w, i))
			require.NoError(t, err)
			require.Equal(t, w*1000+i, e.Value)
			require.Equal(t, rev, e.ModRevision, "each caller gets its own write's revision")
			txns[rev] = true
		}
	}
	t.Logf("%d puts in %d txns", writers*each, len(txns))
	require.Less(t, len(txns), writers*each/2, "concurrent puts share txns")

	// Deletes report whether the key existed.
	existed, rev, err := b.Delete(ctx, "w00/00")
	require.NoError(t, err)
	require.True(t, existed)
	require.Greater(t, rev, int64(0))
	existed, _, err = b.Delete(ctx, "w00/00")
	require.NoError(t, err)
	require.False(t, existed)
}

func assertNoError(t *testing.T, err error) bool {
	t.Helper()
	if err != nil {
		t.Error(err)
		return false
	}
	return true
}

func TestBatcherNeverPutsOneKeyTwiceInATxn(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t)
	ctx := ctxT(t)
	s, err := kv.New[int](n.Client(), "same")
	require.NoError(t, err)
	b, err := s.Batcher()
	require.NoError(t, err)
	defer b.Close(context.Background())

	// 32 goroutines hammer 4 keys, mixing puts and deletes: etcd rejects a
	// txn naming a key twice, so any sharing would fail these writes.
	var mu sync.Mutex
	revsByKey := map[string][]int64{}
	fanOut(32, func(w int) {
		for i := range 10 {
			key := fmt.Sprint("k", (w+i)%4)
			var rev int64
			var err error
			changed := true
			if i%3 == 2 {
				changed, rev, err = b.Delete(ctx, key)
			} else {
				rev, err = b.Put(ctx, key, w)
			}
			if !assertNoError(t, err) {
				return
			}
			if !changed {
				continue // a delete of nothing makes no revision of its own
			}
			mu.Lock()
			revsByKey[key] = append(revsByKey[key], rev)
			mu.Unlock()
		}
	})
	for key, revs := range revsByKey {
		seen := map[int64]bool{}
		for _, r := range revs {
			require.Falsef(t, seen[r], "two writes of %s in the txn of revision %d", key, r)
			seen[r] = true
		}
	}
}

func TestBatcherIsolatesARevokedLease(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t)
	ctx := ctxT(t)
	cli := n.Client()
	s, err := kv.New[int](cli, "iso")
	require.NoError(t, err)
	b, err := s.Batcher(kv.WithMaxInFlight(1))
	require.NoError(t, err)
	defer b.Close(context.Background())
	live, err := cli.Grant(ctx, 60)
	require.NoError(t, err)
	dead, err := cli.Grant(ctx, 60)
	require.NoError(t, err)
	_, err = cli.Revoke(ctx, dead.ID)
	require.NoError(t, err)

	// Rounds of 48 concurrent writes, 2 of them on the revoked lease.
	for round := range 5 {
		errs := make([]error, 48)
		fanOut(48, func(i int) {
			var opts []kv.PutOption
			switch {
			case i%24 == 7:
				opts = append(opts, kv.WithLease(dead.ID))
			case i%2 == 0:
				opts = append(opts, kv.WithLease(live.ID))
			}
			_, errs[i] = b.Put(ctx, fmt.Sprintf("r%d/%02d", round, i), i, opts...)
		})
		for i, err := range errs {
			if i%24 == 7 {
				require.ErrorIs(t, err, kv.ErrLeaseNotFound, "write %d on the revoked lease", i)
				require.NotErrorIs(t, err, kv.ErrUnknownOutcome)
				_, gerr := s.Get(ctx, fmt.Sprintf("r%d/%02d", round, i))
				require.ErrorIs(t, gerr, kv.ErrNotFound)
				continue
			}
			require.NoError(t, err, "write %d must not fail for its neighbour's lease", i)
		}
	}
}

func TestBatcherSplitsBatchesTheServerRefuses(t *testing.T) {
	t.Parallel()
	// A server with lower limits than the client assumes: 16 ops per txn
	// and 64 KiB requests. The Batcher learns nothing in advance; etcd's
	// definite refusals make it split until the parts fit.
	n := coordtest.NewNode(t, coordtest.WithEmbed(func(c *embed.Config) {
		c.MaxTxnOps = 16
		c.MaxRequestBytes = 64 << 10
	}))
	ctx := ctxT(t)
	s, err := kv.New[[]byte](n.Client(), "split", kv.WithCodec(kv.BytesCodec))
	require.NoError(t, err)
	b, err := s.Batcher(kv.WithMaxInFlight(1))
	require.NoError(t, err)
	defer b.Close(context.Background())

	small := make([]byte, 10)
	big := make([]byte, 20<<10) // 3 of these exceed the server's limit
	errs := make([]error, 64)
	fanOut(64, func(i int) {
		v := small
		if i%8 == 0 {
			v = big
		}
		_, errs[i] = b.Put(ctx, fmt.Sprint(i), v)
	})
	for i, err := range errs {
		require.NoError(t, err, "write %d", i)
	}
	all, _, err := s.List(ctx)
	require.NoError(t, err)
	require.Len(t, all, 64)

	// A single write over the server's limit fails alone, definitely.
	_, err = b.Put(ctx, "huge", make([]byte, 70<<10))
	require.ErrorIs(t, err, kv.ErrTooLarge)
	require.NotErrorIs(t, err, kv.ErrUnknownOutcome)
}

func TestBatcherCloseDrainsAndRefusesNewWrites(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t)
	ctx := ctxT(t)
	s, err := kv.New[int](n.Client(), "cl")
	require.NoError(t, err)
	b, err := s.Batcher()
	require.NoError(t, err)

	errs := make([]error, 32)
	done := make(chan struct{})
	go func() {
		fanOut(32, func(i int) { _, errs[i] = b.Put(ctx, fmt.Sprint(i), i) })
		close(done)
	}()
	require.NoError(t, b.Close(ctx))
	<-done
	written := 0
	for _, err := range errs {
		if err == nil {
			written++
			continue
		}
		require.ErrorIs(t, err, kv.ErrClosed, "a write is either done or refused")
	}
	all, _, err := s.List(ctx)
	require.NoError(t, err)
	require.Len(t, all, written, "Close returned after every accepted write was answered")
	_, err = b.Put(ctx, "late", 1)
	require.ErrorIs(t, err, kv.ErrClosed)
	_, _, err = b.Delete(ctx, "late")
	require.ErrorIs(t, err, kv.ErrClosed)
	require.NoError(t, b.Close(ctx))
}

// TestBatcherPutAsyncKeepsOrderAndAnswersEachFuture: one goroutine queues
// many writes without waiting; each future gets its own write's revision,
// and 100 writes of one key apply in the order they were queued, each in a
// txn of its own.
func TestBatcherPutAsyncKeepsOrderAndAnswersEachFuture(t *testing.T) {
	t.Parallel()
	n := coordtest.NewNode(t)
	ctx := ctxT(t)
	s, err := kv.New[int](n.Client(), "async")
	require.NoError(t, err)
	b, err := s.Batcher(kv.WithMaxPending(64))
	require.NoError(t, err)
	defer b.Close(context.Background())

	var distinct, same []*kv.Future
	for i := range 400 {
		distinct = append(distinct, b.PutAsync(ctx, fmt.Sprint("k", i), i))
		if i%4 == 0 {
			same = append(same, b.PutAsync(ctx, "same", i))
		}
	}
	txns := map[int64]bool{}
	for i, f := range distinct {
		rev, err := f.Wait(ctx)
		require.NoError(t, err)
		e, err := s.Get(ctx, fmt.Sprint("k", i))
		require.NoError(t, err)
		require.Equal(t, i, e.Value)
		require.Equal(t, rev, e.ModRevision)
		txns[rev] = true
	}
	require.Less(t, len(txns), 200, "queued writes share txns")
	var last int64
	for _, f := range same {
		rev, err := f.Wait(ctx)
		require.NoError(t, err)
		require.Greater(t, rev, last, "writes of one key apply in order, never in one txn")
		last = rev
	}
	e, err := s.Get(ctx, "same")
	require.NoError(t, err)
	require.Equal(t, 396, e.Value)
	require.Equal(t, int64(len(same)), e.Version)

	f := b.DeleteAsync(ctx, "same")
	_, err = f.Wait(ctx)
	require.NoError(t, err)
	require.True(t, f.Existed())
	f = b.DeleteAsync(ctx, "same")
	_, err = f.Wait(ctx)
	require.NoError(t, err)
	require.False(t, f.Existed())

	// Bad input fails the future at once, sending nothing.
	_, err = b.PutAsync(ctx, "", 1).Wait(ctx)
	require.ErrorIs(t, err, kv.ErrInvalidName)
}

// TestBatcherCloseAnswersQueuedFutures: Close returns only once every
// accepted async write is answered; later ones fail with ErrClosed.
func TestBatcherCloseAnswersQueuedFutures(t *testing.T) {
	t.Parallel()
	n := coordtest.NewNode(t)
	ctx := ctxT(t)
	s, err := kv.New[int](n.Client(), "asyncclose")
	require.NoError(t, err)
	b, err := s.Batcher()
	require.NoError(t, err)
	var fs []*kv.Future
	for i := range 300 {
		fs = append(fs, b.PutAsync(ctx, fmt.Sprint(i), i))
	}
	require.NoError(t, b.Close(ctx))
	for i, f := range fs {
		select {
		case <-f.Done():
		default:
			t.Fatalf("future %d not answered after Close", i)
		}
		_, err := f.Wait(ctx)
		require.NoError(t, err)
	}
	all, _, err := s.List(ctx)
	require.NoError(t, err)
	require.Len(t, all, len(fs))
	_, err = b.PutAsync(ctx, "late", 1).Wait(ctx)
	require.ErrorIs(t, err, kv.ErrClosed)
}

// TestBatcherCloseBoundedByContext: Close waits for queued writes only as
// long as its context lives; the writes go on, and a later Close waits for
// them and returns nil once they are answered.
func TestBatcherCloseBoundedByContext(t *testing.T) {
	t.Parallel()
	n := coordtest.NewNode(t)
	ctx := ctxT(t)
	link := n.NewLink(t)
	s, err := kv.New[int](link.Client(), "closectx")
	require.NoError(t, err)
	b, err := s.Batcher(kv.WithTxnTimeout(time.Second))
	require.NoError(t, err)
	_, err = b.Put(ctx, "warm", 1) // the connection is up before the blackhole
	require.NoError(t, err)

	link.Blackhole()
	f := b.PutAsync(ctx, "k", 1)
	ended, cancel := context.WithCancelCause(ctx)
	cause := errors.New("shutdown deadline")
	cancel(cause)
	err = b.Close(ended)
	require.ErrorIs(t, err, cause, "Close gives up when its context ends")
	require.ErrorContains(t, err, "kv: close batcher")
	select {
	case <-f.Done():
		t.Fatal("the write stuck behind the blackhole cannot be answered yet")
	default:
	}
	_, err = b.PutAsync(ctx, "late", 1).Wait(ctx)
	require.ErrorIs(t, err, kv.ErrClosed, "a closed Batcher takes no new write, even before it drained")

	require.NoError(t, b.Close(ctx), "a later Close waits for the queued writes")
	_, err = f.Wait(ctx)
	require.ErrorIs(t, err, kv.ErrUnknownOutcome, "the blackholed txn timed out after it was sent")
	link.Unblackhole()
	require.NoError(t, b.Close(context.Background()), "Close is idempotent")
}

// A txn the Batcher sends in the background and etcd refuses is logged
// (the key, not the value), besides being returned to its caller.
func TestBatcherLogsFailedTxns(t *testing.T) {
	t.Parallel()
	n := coordtest.NewNode(t)
	ctx := ctxT(t)
	rec := &recorder{}
	s, err := kv.New[string](n.Client(), "logged", kv.WithLogger(slog.New(rec)))
	require.NoError(t, err)
	b, err := s.Batcher()
	require.NoError(t, err)
	defer b.Close(context.Background())

	_, err = b.Put(ctx, "k", "s3cret-value", kv.WithLease(0x7eadbeef))
	require.ErrorIs(t, err, kv.ErrLeaseNotFound)
	require.Equal(t, 1, rec.count("kv: batched txn failed"))
	require.Equal(t, 1, rec.count(`DEBUG kv: batched txn failed prefix=logged/ ops=1 first_key=logged/k`),
		"one operation at fault, its caller has the error: debug; the key is named")
	require.Zero(t, rec.count("s3cret-value"), "values are never logged")
}
