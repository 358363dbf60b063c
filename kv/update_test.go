package kv_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coordkit/coordkit/coordtest"
	"github.com/coordkit/coordkit/kv"
)

func TestUpdateCreatesModifiesAndKeepsLease(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t)
	ctx := ctxT(t)
	cli := n.Client()
	s, err := kv.New[int](cli, "upd")
	require.NoError(t, err)
	inc := func(old int, exists bool) (int, error) {
		if !exists {
			return 100, nil
		}
		return old + 1, nil
	}
	e, err := s.Update(ctx, "c", inc)
	require.NoError(t, err)
	require.Equal(t, 100, e.Value)
	require.Equal(t, int64(1), e.Version)
	require.Equal(t, e.CreateRevision, e.ModRevision)

	g, err := cli.Grant(ctx, 60)
	require.NoError(t, err)
	_, err = s.Put(ctx, "c", 7, kv.WithLease(g.ID))
	require.NoError(t, err)
	e, err = s.Update(ctx, "c", inc)
	require.NoError(t, err)
	require.Equal(t, 8, e.Value)
	require.Equal(t, g.ID, e.Lease)
	got, err := s.Get(ctx, "c")
	require.NoError(t, err)
	require.Equal(t, e, got, "Update reports the entry as stored, lease kept")

	// An error from fn stops Update and writes nothing.
	boom := errors.New("boom")
	_, err = s.Update(ctx, "c", func(int, bool) (int, error) { return 0, boom })
	require.ErrorIs(t, err, boom)
	got2, err := s.Get(ctx, "c")
	require.NoError(t, err)
	require.Equal(t, got, got2)

	// A lease that is gone is a definite rejection, not retried.
	_, err = cli.Revoke(ctx, g.ID)
	require.NoError(t, err)
	calls := 0
	_, err = s.Update(ctx, "c", func(int, bool) (int, error) { calls++; return 1, nil }, kv.WithLease(g.ID))
	require.ErrorIs(t, err, kv.ErrLeaseNotFound)
	require.Equal(t, 1, calls)

	// A value the codec cannot read is reported, fn is not called.
	_, err = cli.Put(ctx, "upd/junk", "not json")
	require.NoError(t, err)
	_, err = s.Update(ctx, "junk", func(int, bool) (int, error) { t.Error("fn called"); return 0, nil })
	require.ErrorIs(t, err, kv.ErrCodec)
	_, err = s.Update(ctx, "c", nil)
	require.ErrorIs(t, err, kv.ErrInvalidArgument)
}

func TestUpdateRetriesConflictsThenGivesUp(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t)
	ctx := ctxT(t)
	s, err := kv.New[int](n.Client(), "hot", kv.WithUpdateRetry(3, time.Millisecond, 5*time.Millisecond))
	require.NoError(t, err)
	_, err = s.Put(ctx, "k", 0)
	require.NoError(t, err)

	// fn races itself: every attempt is overtaken by a competing write.
	calls := 0
	_, err = s.Update(ctx, "k", func(old int, _ bool) (int, error) {
		calls++
		if _, err := s.Put(ctx, "k", old+1000); err != nil {
			return 0, err
		}
		return old + 1, nil
	})
	require.ErrorIs(t, err, kv.ErrTooManyConflicts)
	require.Equal(t, 3, calls)
	e, err := s.Get(ctx, "k")
	require.NoError(t, err)
	require.Equal(t, 3000, e.Value, "only the competing writes landed")

	// A conflict on the second attempt: fn sees the competitor's value.
	var seen []int
	e, err = s.Update(ctx, "k", func(old int, _ bool) (int, error) {
		seen = append(seen, old)
		if len(seen) == 1 {
			_, err := s.Put(ctx, "k", 5)
			require.NoError(t, err)
		}
		return old + 1, nil
	})
	require.NoError(t, err)
	require.Equal(t, []int{3000, 5}, seen)
	require.Equal(t, 6, e.Value)

	// Deleted between read and write: retried as a create.
	seen = nil
	e, err = s.Update(ctx, "k", func(old int, exists bool) (int, error) {
		seen = append(seen, old)
		if len(seen) == 1 {
			_, _, err := s.Delete(ctx, "k")
			require.NoError(t, err)
		}
		if !exists {
			return -1, nil
		}
		return old + 1, nil
	})
	require.NoError(t, err)
	require.Equal(t, []int{6, 0}, seen)
	require.Equal(t, -1, e.Value)
	require.Equal(t, int64(1), e.Version)
}

func TestUpdateConcurrentIncrementsLoseNothing(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t)
	ctx := ctxT(t)
	s, err := kv.New[int](n.NewClient(t), "ctr", kv.WithUpdateRetry(1000, time.Millisecond, 20*time.Millisecond))
	require.NoError(t, err)
	const workers, each = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				_, err := s.Update(ctx, "c", func(old int, _ bool) (int, error) { return old + 1, nil })
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	e, err := s.Get(ctx, "c")
	require.NoError(t, err)
	require.Equal(t, workers*each, e.Value)
}

// ledger is a counter that records which operations were applied to it, so
// a test can tell exactly which increments landed, and spot an increment
// applied twice or lost.
type ledger struct {
	N   int      `json:"n"`
	Ops []string `json:"ops"`
}

func TestUpdateAcrossLeaderKillLosesNoIncrement(t *testing.T) {
	t.Parallel()
	c := coordtest.NewCluster(t, 3)
	// A hang guard, not a timing bound: 240 contended updates across a
	// leader kill take far longer than ctxT's 20 s under -race on a loaded
	// machine.
	ctx, cancelAll := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancelAll()
	s, err := kv.New[ledger](c.Client(), "ledger", kv.WithUpdateRetry(1000, time.Millisecond, 50*time.Millisecond))
	require.NoError(t, err)

	const workers, each = 8, 30
	var (
		mu        sync.Mutex
		succeeded = map[string]bool{}
		unknown   = map[string]bool{}
		failed    = map[string]error{}
		done      atomic.Int64
		wg        sync.WaitGroup
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				id := fmt.Sprintf("w%d-%d", w, i)
				octx, cancel := context.WithTimeout(ctx, 3*time.Second)
				_, err := s.Update(octx, "counter", func(old ledger, _ bool) (ledger, error) {
					old.N++
					old.Ops = append(old.Ops, id)
					return old, nil
				})
				cancel()
				mu.Lock()
				switch {
				case err == nil:
					succeeded[id] = true
				case errors.Is(err, kv.ErrUnknownOutcome):
					unknown[id] = true
				default:
					failed[id] = err // definitely not applied
				}
				mu.Unlock()
				done.Add(1)
			}
		}()
	}

	// Kill the leader once a quarter of the increments are through.
	require.Eventually(t, func() bool { return done.Load() >= workers*each/4 }, 20*time.Second, 5*time.Millisecond)
	leader := c.Leader()
	c.Member(leader).Kill()
	before := done.Load()
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	_, err = c.WaitLeader(wctx)
	cancel()
	require.NoError(t, err)
	wg.Wait()
	c.Member(leader).Restart()

	mu.Lock()
	defer mu.Unlock()
	e, err := s.Get(ctx, "counter")
	require.NoError(t, err)
	final := e.Value
	t.Logf("succeeded %d, unknown %d, failed %d, after the kill %d; final %d",
		len(succeeded), len(unknown), len(failed), int64(workers*each)-before, final.N)
	for id, err := range failed {
		require.Falsef(t, errors.Is(err, kv.ErrUnknownOutcome), "%s: %v", id, err)
	}

	require.Equal(t, final.N, len(final.Ops), "the counter matches its ledger")
	applied := map[string]bool{}
	for _, id := range final.Ops {
		require.Falsef(t, applied[id], "increment %s applied twice", id)
		applied[id] = true
		require.Truef(t, succeeded[id] || unknown[id], "increment %s applied but reported as failed: %v", id, failed[id])
	}
	for id := range succeeded {
		require.Truef(t, applied[id], "increment %s reported success but was lost", id)
	}
	appliedUnknown := 0
	for id := range unknown {
		if applied[id] {
			appliedUnknown++
		}
	}
	require.Equal(t, len(succeeded)+appliedUnknown, final.N)
	require.Greater(t, len(succeeded), workers*each/4, "increments went on after the kill")
}
