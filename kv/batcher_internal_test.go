package kv

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit/coordtest"
)

// TestBatcherCommitIsolatesCulprits builds a mixed batch by hand, so the
// isolation path runs for certain, whatever the scheduling.
func TestBatcherCommitIsolatesCulprits(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t)
	ctx := context.Background()
	cli := n.Client()
	s, err := New[string](cli, "hand", WithCodec(StringCodec))
	require.NoError(t, err)
	b, err := s.Batcher()
	require.NoError(t, err)
	defer b.Close(context.Background())
	live, err := cli.Grant(ctx, 60)
	require.NoError(t, err)
	dead1, err := cli.Grant(ctx, 60)
	require.NoError(t, err)
	dead2, err := cli.Grant(ctx, 60)
	require.NoError(t, err)
	for _, id := range []clientv3.LeaseID{dead1.ID, dead2.ID} {
		_, err = cli.Revoke(ctx, id)
		require.NoError(t, err)
	}
	_, err = cli.Put(ctx, "hand/old", "x")
	require.NoError(t, err)

	ops := []*batchOp{
		{key: "hand/a", put: true, data: "a"},
		{key: "hand/b", put: true, data: "b", lease: dead1.ID},
		{key: "hand/c", put: true, data: "c", lease: live.ID},
		{key: "hand/old"}, // delete
		{key: "hand/d", put: true, data: "d", lease: dead2.ID},
		{key: "hand/e", put: true, data: "e", lease: dead1.ID},
		{key: "hand/f", put: true, data: "f", lease: live.ID},
		{key: "hand/none"}, // delete of an absent key
	}
	for _, op := range ops {
		op.done = make(chan struct{})
	}
	b.commit(ops)
	res := make([]batchResult, len(ops))
	for i, op := range ops {
		<-op.done
		res[i] = op.res
	}
	for _, i := range []int{1, 4, 5} {
		require.ErrorIs(t, res[i].err, ErrLeaseNotFound, ops[i].key)
	}
	for _, i := range []int{0, 2, 3, 6, 7} {
		require.NoError(t, res[i].err, ops[i].key)
		require.Greater(t, res[i].rev, int64(0))
	}
	require.True(t, res[3].deleted)
	require.False(t, res[7].deleted)
	all, _, err := s.List(ctx)
	require.NoError(t, err)
	var keys []string
	for _, e := range all {
		keys = append(keys, e.Key+"="+e.Value)
	}
	require.Equal(t, []string{"a=a", "c=c", "f=f"}, keys)
}

// TestBatcherWithdrawsQueuedWrite: a caller whose context ends while its
// write is still queued gets a definite "not sent", and the write is never
// sent.
func TestBatcherWithdrawsQueuedWrite(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t)
	s, err := New[int](n.Client(), "wd")
	require.NoError(t, err)
	b, err := s.Batcher()
	require.NoError(t, err)
	defer b.Close(context.Background())

	// Pretend "wd/k" is in a txn being sent: a new write of it must queue.
	b.mu.Lock()
	b.inflight["wd/k"] = struct{}{}
	b.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { _, err := b.Put(ctx, "k", 1); errc <- err }()
	// Wait until it is queued and its sender has given up for now.
	require.Eventually(t, func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return len(b.pending) == 1 && b.senders == 0
	}, 10*time.Second, time.Millisecond)
	cancel()
	err = <-errc
	require.ErrorIs(t, err, context.Canceled)
	require.False(t, errors.Is(err, ErrUnknownOutcome), "a withdrawn write is definitely not applied")

	// Release the key: the withdrawn op is dropped, not sent.
	b.mu.Lock()
	delete(b.inflight, "wd/k")
	b.mu.Unlock()
	_, err = b.Put(context.Background(), "other", 2)
	require.NoError(t, err)
	b.mu.Lock()
	require.Empty(t, b.pending)
	b.mu.Unlock()
	_, err = s.Get(context.Background(), "k")
	require.ErrorIs(t, err, ErrNotFound)
}

// TestBatcherReportsUnknownOutcomeAndNeverResends: a txn that times out after
// it was sent fails each of its callers with ErrUnknownOutcome, and nothing
// of it is left to be sent again.
func TestBatcherReportsUnknownOutcomeAndNeverResends(t *testing.T) {
	t.Parallel()
	n := coordtest.NewNode(t)
	ctx := context.Background()
	link := n.NewLink(t)
	s, err := New[int](link.Client(), "slow")
	require.NoError(t, err)
	b, err := s.Batcher(WithTxnTimeout(800 * time.Millisecond))
	require.NoError(t, err)
	defer b.Close(context.Background())
	_, err = b.Put(ctx, "warm", 0) // connection established
	require.NoError(t, err)

	// 500 ms each way: the txn usually reaches etcd and is applied, but its
	// answer comes after the Batcher gave up on it (800 ms). The callers
	// cannot know; they must not be told it failed.
	link.Delay(500*time.Millisecond, 0)
	errs := make([]error, 8)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Add(1)
		go func() { defer wg.Done(); _, errs[i] = b.Put(ctx, fmt.Sprint("k", i), i) }()
	}
	wg.Wait()
	for _, err := range errs {
		require.ErrorIs(t, err, ErrUnknownOutcome)
		require.ErrorIs(t, err, context.DeadlineExceeded)
	}
	b.mu.Lock()
	require.Empty(t, b.pending, "nothing queued to re-send")
	require.Empty(t, b.inflight)
	b.mu.Unlock()
	link.Undelay()

	// Whatever reached etcd was written exactly once.
	_, err = b.Put(ctx, "barrier", 0)
	require.NoError(t, err)
	direct, err := New[int](n.Client(), "slow")
	require.NoError(t, err)
	all, _, err := direct.List(ctx)
	require.NoError(t, err)
	applied := 0
	for _, e := range all {
		require.Equalf(t, int64(1), e.Version, "%s written once", e.Key)
		if e.Key != "warm" && e.Key != "barrier" {
			applied++
		}
	}
	t.Logf("%d of %d writes with unknown outcome were applied", applied, len(errs))
}

// TestBatcherAsyncWithdrawnAndBounded: an async write whose context ends
// while queued is withdrawn, never sent, and says so; with the pending
// bound reached, PutAsync waits and gives up with its context.
func TestBatcherAsyncWithdrawnAndBounded(t *testing.T) {
	t.Parallel()
	n := coordtest.NewNode(t)
	s, err := New[int](n.Client(), "awd")
	require.NoError(t, err)
	b, err := s.Batcher(WithMaxPending(1))
	require.NoError(t, err)
	defer b.Close(context.Background())

	// Pretend "awd/k" is in a txn being sent: a new write of it must queue.
	b.mu.Lock()
	b.inflight["awd/k"] = struct{}{}
	b.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	f := b.PutAsync(ctx, "k", 1)

	// The one pending slot is taken: a further async write waits for room.
	short, cancelShort := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancelShort()
	_, err = b.PutAsync(short, "other", 2).Wait(context.Background())
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.NotErrorIs(t, err, ErrUnknownOutcome)

	cancel()
	b.mu.Lock()
	delete(b.inflight, "awd/k")
	b.mu.Unlock()
	// A synchronous write makes a sender go through the queue.
	_, err = b.Put(context.Background(), "sync", 3)
	require.NoError(t, err)
	_, err = f.Wait(context.Background())
	require.ErrorIs(t, err, context.Canceled)
	require.NotErrorIs(t, err, ErrUnknownOutcome, "a withdrawn write is definitely not applied")
	_, err = s.Get(context.Background(), "k")
	require.ErrorIs(t, err, ErrNotFound)

	// Its slot is free again.
	_, err = b.PutAsync(context.Background(), "other", 2).Wait(context.Background())
	require.NoError(t, err)
}

// TestLatencyLimit: the in-flight limit grows to its cap while txns take
// their unloaded time and shrinks when they take far longer.
func TestLatencyLimit(t *testing.T) {
	t.Parallel()
	l := newLatency(16)
	for range 200 {
		l.observe(time.Millisecond)
	}
	require.Equal(t, 16, l.limit())
	for range 200 {
		l.observe(20 * time.Millisecond)
	}
	require.Equal(t, minInFlight, l.limit(), "down to its floor")
	for range 2000 {
		l.observe(20 * time.Millisecond) // the slow level, seen for long, is the new normal
	}
	require.Equal(t, 16, l.limit())
}
