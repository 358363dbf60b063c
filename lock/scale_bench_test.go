package lock_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/coordkit/coordkit/coordtest"
	"github.com/coordkit/coordkit/lease"
	"github.com/coordkit/coordkit/lock"
)

// BenchmarkHeldAtScale holds 1,000 locks (one Mutex each, all on one lease,
// as a process holding many locks does) and unlocks them all at once, from
// 1,000 goroutines; raw etcd's concurrency.Mutex on one Session does the
// same on the same node in the same run, the two sides alternating round by
// round. It reports the time to unlock all (unlock-ms), and the heap each
// held lock costs, handle included (B/held), measured after a GC (the
// in-process node's share included, alike on every side). raw-fenced is
// concurrency.Mutex unlocked as coordkit unlocks: a delete fenced on the
// key's create revision.
//
//	go test -run '^$' -bench HeldAtScale -benchtime 5x ./lock/
func BenchmarkHeldAtScale(b *testing.B) {
	const n = 1000
	node := coordtest.NewNode(b)
	cli := node.Client()
	ctx := context.Background()
	type side struct {
		name   string
		hold   func(b *testing.B, round int) (unlock []func() error, done func())
		unlock time.Duration
		heap   float64
	}
	sides := []*side{
		{name: "coordkit", hold: func(b *testing.B, round int) ([]func() error, func()) {
			l, err := lease.Grant(ctx, cli, 30*time.Second)
			if err != nil {
				b.Fatal(err)
			}
			l.KeepAlive(ctx)
			unlock := make([]func() error, n)
			ms := make([]*lock.Mutex, n)
			for i := range n {
				m, err := lock.NewMutex(cli, fmt.Sprintf("scale/ck/%d/%d", round, i), lock.WithLease(l))
				if err != nil {
					b.Fatal(err)
				}
				h, err := m.Lock(ctx)
				if err != nil {
					b.Fatal(err)
				}
				ms[i] = m
				unlock[i] = func() error { return h.Unlock(ctx) }
			}
			return unlock, func() {
				for _, m := range ms {
					m.Close(ctx)
				}
				l.Revoke(ctx)
			}
		}},
		{name: "raw-concurrency", hold: func(b *testing.B, round int) ([]func() error, func()) {
			s, err := concurrency.NewSession(cli, concurrency.WithTTL(30))
			if err != nil {
				b.Fatal(err)
			}
			unlock := make([]func() error, n)
			for i := range n {
				m := concurrency.NewMutex(s, fmt.Sprintf("scale/raw/%d/%d", round, i))
				if err := m.Lock(ctx); err != nil {
					b.Fatal(err)
				}
				unlock[i] = func() error { return m.Unlock(ctx) }
			}
			return unlock, func() { s.Close() }
		}},
		// The raw reference for coordkit's Unlock, which deletes the key
		// only if it is still this hold's: concurrency.Mutex unlocked by a
		// txn fenced on IsOwner instead of its plain delete.
		{name: "raw-fenced", hold: func(b *testing.B, round int) ([]func() error, func()) {
			s, err := concurrency.NewSession(cli, concurrency.WithTTL(30))
			if err != nil {
				b.Fatal(err)
			}
			unlock := make([]func() error, n)
			for i := range n {
				m := concurrency.NewMutex(s, fmt.Sprintf("scale/fenced/%d/%d", round, i))
				if err := m.Lock(ctx); err != nil {
					b.Fatal(err)
				}
				unlock[i] = func() error {
					_, err := cli.Txn(ctx).If(m.IsOwner()).Then(clientv3.OpDelete(m.Key())).Commit()
					return err
				}
			}
			return unlock, func() { s.Close() }
		}},
	}
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	b.ResetTimer()
	for round := range b.N {
		for k := range sides {
			s := sides[(round+k)%len(sides)] // each side goes first in turn
			before := heap()
			unlock, done := s.hold(b, round)
			s.heap += float64(heap()-before) / n
			var wg sync.WaitGroup
			errs := make(chan error, n)
			start := time.Now()
			for _, u := range unlock {
				wg.Go(func() {
					if err := u(); err != nil {
						errs <- err
					}
				})
			}
			wg.Wait()
			s.unlock += time.Since(start)
			close(errs)
			for err := range errs {
				b.Fatal(err)
			}
			done()
			resp, err := cli.Get(ctx, "scale/", clientv3.WithPrefix(), clientv3.WithCountOnly())
			if err != nil || resp.Count != 0 {
				b.Fatalf("keys left behind: %v %v", resp, err)
			}
		}
	}
	b.StopTimer()
	for _, s := range sides {
		b.ReportMetric(float64(s.unlock.Milliseconds())/float64(b.N), s.name+"-unlock-ms")
		b.ReportMetric(s.heap/float64(b.N), s.name+"-B/held")
	}
	b.ReportMetric(float64(sides[1].unlock)/float64(sides[0].unlock), "unlock-speed-vs-raw")
	b.ReportMetric(float64(sides[2].unlock)/float64(sides[0].unlock), "unlock-speed-vs-raw-fenced")
}
