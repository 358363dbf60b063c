package lock_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/coordkit/coordkit/coordtest"
	"github.com/coordkit/coordkit/lock"
)

// Benchmarks compare coordkit's Mutex with etcd's concurrency.Mutex on the
// same node, through the same in-process client, in the same run. Both
// sides reuse one lease (coordkit's per-handle lease, a concurrency
// Session), as applications do.

// locker is the common shape of the two mutexes under test.
type locker interface {
	lock(ctx context.Context) error
	tryLock(ctx context.Context) error
	unlock(ctx context.Context) error
	close()
}

type ours struct {
	m *lock.Mutex
	h *lock.Held
}

func (o *ours) lock(ctx context.Context) (err error)    { o.h, err = o.m.Lock(ctx); return err }
func (o *ours) tryLock(ctx context.Context) (err error) { o.h, err = o.m.TryLock(ctx); return err }
func (o *ours) unlock(ctx context.Context) error        { return o.h.Unlock(ctx) }
func (o *ours) close()                                  { o.m.Close(context.Background()) }

type raw struct {
	s *concurrency.Session
	m *concurrency.Mutex
}

func (r *raw) lock(ctx context.Context) error    { return r.m.Lock(ctx) }
func (r *raw) tryLock(ctx context.Context) error { return r.m.TryLock(ctx) }
func (r *raw) unlock(ctx context.Context) error  { return r.m.Unlock(ctx) }
func (r *raw) close()                            { r.s.Close() }

type maker func(b *testing.B, cli *clientv3.Client, name string) locker

var makers = []struct {
	name string
	make maker
}{
	{"coordkit", func(b *testing.B, cli *clientv3.Client, name string) locker {
		m, err := lock.NewMutex(cli, name)
		if err != nil {
			b.Fatal(err)
		}
		return &ours{m: m}
	}},
	{"raw-concurrency", func(b *testing.B, cli *clientv3.Client, name string) locker {
		s, err := concurrency.NewSession(cli, concurrency.WithTTL(10))
		if err != nil {
			b.Fatal(err)
		}
		return &raw{s: s, m: concurrency.NewMutex(s, name)}
	}},
}

// Uncontended Lock then Unlock: two requests each side.
func BenchmarkLockUnlock(b *testing.B) {
	n := coordtest.NewNode(b)
	benchLockUnlock(b, n.Client(), "")
}

// benchLockUnlock runs the uncontended Lock + Unlock benchmark of each
// maker through cli, naming sub-benchmarks prefix + the maker's name.
func benchLockUnlock(b *testing.B, cli *clientv3.Client, prefix string) {
	ctx := context.Background()
	for _, mk := range makers {
		b.Run(prefix+mk.name, func(b *testing.B) {
			l := mk.make(b, cli, "bench/uncontended/"+mk.name)
			defer l.close()
			for b.Loop() {
				if err := l.lock(ctx); err != nil {
					b.Fatal(err)
				}
				if err := l.unlock(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// Hand-off latency between two goroutines: from the holder's call to
// Unlock to the waiter's Lock returning, the waiter being queued already.
func BenchmarkHandoff(b *testing.B) {
	n := coordtest.NewNode(b)
	cli := n.Client()
	ctx := context.Background()
	for _, mk := range makers {
		b.Run(mk.name, func(b *testing.B) {
			name := "bench/handoff/" + mk.name
			holder, waiter := mk.make(b, cli, name), mk.make(b, cli, name)
			defer holder.close()
			defer waiter.close()
			wctx, cancel := context.WithCancel(ctx)
			defer cancel()
			puts := cli.Watch(wctx, name+"/", clientv3.WithPrefix(), clientv3.WithFilterDelete())
			if err := holder.lock(ctx); err != nil {
				b.Fatal(err)
			}
			lat := make([]time.Duration, 0, b.N)
			pending := 0 // put events seen but not yet consumed
			b.ResetTimer()
			for range b.N {
				acquired := make(chan error, 1)
				go func() { acquired <- waiter.lock(ctx) }()
				for pending == 0 { // the waiter's key is in the queue
					pending += len((<-puts).Events)
				}
				pending--
				t0 := time.Now()
				if err := holder.unlock(ctx); err != nil {
					b.Fatal(err)
				}
				if err := <-acquired; err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t0))
				holder, waiter = waiter, holder
			}
			b.StopTimer()
			if err := holder.unlock(ctx); err != nil {
				b.Fatal(err)
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)*50/100].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		})
	}
}

// TryLock against a lock held elsewhere: enqueue, see the holder, remove
// the key, report ErrLocked.
func BenchmarkTryLockHeld(b *testing.B) {
	n := coordtest.NewNode(b)
	cli := n.Client()
	ctx := context.Background()
	for _, mk := range makers {
		b.Run(mk.name, func(b *testing.B) {
			name := "bench/try/" + mk.name
			holder, trier := mk.make(b, cli, name), mk.make(b, cli, name)
			defer holder.close()
			defer trier.close()
			if err := holder.lock(ctx); err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			for b.Loop() {
				err := trier.tryLock(ctx)
				if !errors.Is(err, lock.ErrLocked) && !errors.Is(err, concurrency.ErrLocked) {
					b.Fatalf("want ErrLocked, got %v", err)
				}
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "tries/s")
			if err := holder.unlock(ctx); err != nil {
				b.Fatal(err)
			}
		})
	}
}
