package lock_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit/coordtest"
	"github.com/coordkit/coordkit/lock"
)

func newRW(t *testing.T, cli *clientv3.Client, name string, opts ...lock.Option) *lock.RWMutex {
	t.Helper()
	rw, err := lock.NewRWMutex(cli, name, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = rw.Close(context.Background()) })
	return rw
}

// Readers share; a writer waits for the readers ahead of it; readers that
// come after a waiting writer wait behind it (no writer starvation).
func TestRWMutexOrdering(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t)
	cli := n.Client()
	ctx := ctxFor(t)
	a, b, w := newRW(t, cli, "rw"), newRW(t, cli, "rw"), newRW(t, cli, "rw")

	r1, err := a.RLock(ctx)
	require.NoError(t, err)
	r2, err := b.RLock(ctx)
	require.NoError(t, err, "readers share")
	r1b, err := a.RLock(ctx)
	require.NoError(t, err, "goroutines sharing a handle can each hold a read lock")
	require.NotEqual(t, r1.Key(), r1b.Key())
	_, err = w.TryLock(ctx)
	require.ErrorIs(t, err, lock.ErrLocked)

	chW := async(func() (*lock.Held, error) { return w.Lock(ctx) })
	waitKeys(t, cli, "rw/", 4)
	_, err = b.TryRLock(ctx)
	require.ErrorIs(t, err, lock.ErrLocked, "a writer is waiting ahead")
	chR := async(func() (*lock.Held, error) { return b.RLock(ctx) })
	waitKeys(t, cli, "rw/", 5)

	require.NoError(t, r1.Unlock(ctx))
	require.NoError(t, r1b.Unlock(ctx))
	notYet(t, chW)
	require.NoError(t, r2.Unlock(ctx))
	rw := await(t, chW)
	require.NoError(t, rw.err)
	require.Greater(t, rw.h.Token(), r2.Token(), "a writer's token exceeds earlier readers'")
	notYet(t, chR)
	require.NoError(t, rw.h.Unlock(ctx))
	rr := await(t, chR)
	require.NoError(t, rr.err)
	require.Greater(t, rr.h.Token(), rw.h.Token())
	require.NoError(t, rr.h.Unlock(ctx))
	require.Empty(t, keysUnder(t, cli, "rw/"))
}

// Concurrent readers and writers never overlap a writer with anyone.
func TestRWMutexExclusion(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t)
	cli := n.Client()
	ctx := ctxFor(t)
	var readers, writers atomic.Int64
	var violations atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	for i := range 6 {
		rw := newRW(t, cli, "rw-ex")
		write := i%2 == 0
		wg.Go(func() {
			for range 8 {
				var h *lock.Held
				var err error
				if write {
					h, err = rw.Lock(ctx)
				} else {
					h, err = rw.RLock(ctx)
				}
				if err != nil {
					errs <- err
					return
				}
				if write {
					if writers.Add(1) > 1 || readers.Load() > 0 {
						violations.Add(1)
					}
					writers.Add(-1)
				} else {
					readers.Add(1)
					if writers.Load() > 0 {
						violations.Add(1)
					}
					readers.Add(-1)
				}
				if err := h.Unlock(ctx); err != nil {
					errs <- fmt.Errorf("unlock: %w", err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Zero(t, violations.Load())
}
