package discovery_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit/coordtest"
	"github.com/coordkit/coordkit/discovery"
	"github.com/coordkit/coordkit/lease"
)

// Run with:
//
//	go test -run '^$' -bench RegisterScale -benchtime 1x ./discovery/
//
// COORDKIT_SCALE=1000,10000,100000 sets the counts (default 1000,10000).
//
// N registrations made by 32 workers on an embedded node's in-process
// client, then closed the same way, against raw etcd doing the same on the
// same node in the same run: a lease each (raw: Grant, Put with the lease,
// clientv3 KeepAlive; close: Revoke), or one shared lease (raw: Put with
// it; close: Delete). Reported: wall time to register and to close them
// all, and memory (heap and goroutine stacks) and goroutines per
// registration while they are all registered (the embedded server's share included, alike for both).
func BenchmarkRegisterScale(b *testing.B) {
	counts := []int{1000, 10000}
	if s := os.Getenv("COORDKIT_SCALE"); s != "" {
		counts = nil
		for _, f := range splitComma(s) {
			n, err := strconv.Atoi(f)
			if err != nil {
				b.Fatal(err)
			}
			counts = append(counts, n)
		}
	}
	node := coordtest.NewNode(b)
	cli := node.Client()
	ctx := context.Background()
	const ttl = 30 * time.Second
	shared, err := lease.Grant(ctx, cli, ttl)
	if err != nil {
		b.Fatal(err)
	}
	shared.KeepAlive(ctx)
	defer shared.Revoke(ctx)

	for _, n := range counts {
		b.Run(fmt.Sprintf("n=%d/raw/lease-each", n), func(b *testing.B) {
			var ids []clientv3.LeaseID
			var cancels []context.CancelFunc
			var mu sync.Mutex
			scale(b, n, func(i int) error {
				g, err := cli.Grant(ctx, int64(ttl.Seconds()))
				if err != nil {
					return err
				}
				if _, err := cli.Put(ctx, rawKey(i), `{"Op":0,"Addr":"10.0.0.1:80"}`, clientv3.WithLease(g.ID)); err != nil {
					return err
				}
				kctx, cancel := context.WithCancel(ctx)
				if _, err := cli.KeepAlive(kctx, g.ID); err != nil {
					cancel()
					return err
				}
				mu.Lock()
				ids, cancels = append(ids, g.ID), append(cancels, cancel)
				mu.Unlock()
				return nil
			}, func(i int) error {
				cancels[i]()
				_, err := cli.Revoke(ctx, ids[i])
				return err
			})
		})
		b.Run(fmt.Sprintf("n=%d/discovery/lease-each", n), func(b *testing.B) {
			regs := make([]*discovery.Registration, n)
			scale(b, n, func(i int) error {
				reg, err := discovery.Register(ctx, cli, discovery.Instance{Service: "scale", ID: fmt.Sprintf("i%07d", i), Addr: "10.0.0.1:80"}, discovery.WithTTL(ttl), quiet)
				regs[i] = reg
				return err
			}, func(i int) error { return regs[i].Close(ctx) })
		})
		b.Run(fmt.Sprintf("n=%d/raw/shared-lease", n), func(b *testing.B) {
			scale(b, n, func(i int) error {
				_, err := cli.Put(ctx, rawKey(i), `{"Op":0,"Addr":"10.0.0.1:80"}`, clientv3.WithLease(shared.ID()))
				return err
			}, func(i int) error {
				_, err := cli.Delete(ctx, rawKey(i))
				return err
			})
		})
		b.Run(fmt.Sprintf("n=%d/discovery/shared-lease", n), func(b *testing.B) {
			regs := make([]*discovery.Registration, n)
			scale(b, n, func(i int) error {
				reg, err := discovery.Register(ctx, cli, discovery.Instance{Service: "scale", ID: fmt.Sprintf("i%07d", i), Addr: "10.0.0.1:80"}, discovery.WithLease(shared), quiet)
				regs[i] = reg
				return err
			}, func(i int) error { return regs[i].Close(ctx) })
		})
	}
}

func rawKey(i int) string { return fmt.Sprintf("coordkit/services/rawscale/i%07d", i) }

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			if i > start {
				out = append(out, s[start:i])
			}
			start = i + 1
		}
	}
	return out
}

// memInUse is the heap and goroutine stack memory in use.
func memInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc + m.StackInuse
}

// scale registers n with 32 workers, measures, and closes them all.
func scale(b *testing.B, n int, register, close func(i int) error) {
	const workers = 32
	run := func(f func(int) error) time.Duration {
		var next atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		for range workers {
			wg.Go(func() {
				for {
					i := int(next.Add(1)) - 1
					if i >= n {
						return
					}
					if err := f(i); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		return time.Since(start)
	}
	for range b.N {
		heap0, g0 := memInUse(), runtime.NumGoroutine()
		reg := run(register)
		heap1, g1 := memInUse(), runtime.NumGoroutine()
		closed := run(close)
		b.ReportMetric(float64(reg.Microseconds())/1000, "register-ms")
		b.ReportMetric(float64(closed.Microseconds())/1000, "close-ms")
		b.ReportMetric(float64(int64(heap1)-int64(heap0))/float64(n), "B/registration")
		b.ReportMetric(float64(g1-g0)/float64(n), "goroutines/registration")
	}
}
