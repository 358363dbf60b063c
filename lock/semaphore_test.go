package lock_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit/coordtest"
	"github.com/coordkit/coordkit/lock"
)

func newSem(t *testing.T, cli *clientv3.Client, name string, n int, opts ...lock.Option) *lock.Semaphore {
	t.Helper()
	s, err := lock.NewSemaphore(cli, name, n, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

func TestSemaphoreAdmitsN(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t)
	cli := n.Client()
	ctx := ctxFor(t)
	a, b, c := newSem(t, cli, "pool", 2), newSem(t, cli, "pool", 2), newSem(t, cli, "pool", 2)

	h1, err := a.Acquire(ctx)
	require.NoError(t, err)
	h2, err := b.Acquire(ctx)
	require.NoError(t, err)
	_, err = c.TryAcquire(ctx)
	require.ErrorIs(t, err, lock.ErrLocked)
	require.Len(t, keysUnder(t, cli, "pool/holders/"), 2, "a failed TryAcquire leaves no key")

	ch := async(func() (*lock.Held, error) { return c.Acquire(ctx) })
	waitKeys(t, cli, "pool/holders/", 3)
	notYet(t, ch)
	require.NoError(t, h1.Unlock(ctx))
	r := await(t, ch)
	require.NoError(t, r.err)
	require.NoError(t, r.h.Err())

	got, err := cli.Get(ctx, a.LimitKey())
	require.NoError(t, err)
	require.Equal(t, "2", string(got.Kvs[0].Value), "the limit is stored in etcd")
	require.NoError(t, h2.Unlock(ctx))
	require.NoError(t, r.h.Unlock(ctx))
}

// A process configured with another limit is refused, and leaves nothing
// behind, instead of oversubscribing.
func TestSemaphoreLimitMismatch(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t)
	cli := n.Client()
	ctx := ctxFor(t)
	two := newSem(t, cli, "limited", 2)
	h, err := two.Acquire(ctx)
	require.NoError(t, err)

	three := newSem(t, cli, "limited", 3)
	_, err = three.Acquire(ctx)
	require.ErrorIs(t, err, lock.ErrLimitMismatch)
	_, err = three.TryAcquire(ctx)
	require.ErrorIs(t, err, lock.ErrLimitMismatch)
	require.Equal(t, []string{h.Key()}, keysUnder(t, cli, "limited/holders/"))
	require.NoError(t, h.Unlock(ctx))

	// Deleting the limit while nobody holds it lets a new limit in.
	_, err = cli.Delete(ctx, three.LimitKey())
	require.NoError(t, err)
	h3, err := three.Acquire(ctx)
	require.NoError(t, err)
	require.NoError(t, h3.Unlock(ctx))
	_, err = two.Acquire(ctx)
	require.ErrorIs(t, err, lock.ErrLimitMismatch)
}

func TestSemaphoreNeverOversubscribed(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t)
	cli := n.Client()
	ctx := ctxFor(t)
	var inside, peak atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 5)
	sem := newSem(t, cli, "busy", 2) // one handle shared by goroutines
	for i := range 5 {
		s := sem
		if i%2 == 0 {
			s = newSem(t, cli, "busy", 2)
		}
		wg.Go(func() {
			for range 6 {
				h, err := s.Acquire(ctx)
				if err != nil {
					errs <- err
					return
				}
				v := inside.Add(1)
				for p := peak.Load(); v > p && !peak.CompareAndSwap(p, v); p = peak.Load() {
				}
				inside.Add(-1)
				if err := h.Unlock(ctx); err != nil {
					errs <- err
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
	require.LessOrEqual(t, peak.Load(), int64(2))
}
