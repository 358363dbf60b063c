package discovery_test

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3client"

	"github.com/coordkit/coordkit/coordtest"
	"github.com/coordkit/coordkit/discovery"
	"github.com/coordkit/coordkit/lease"
)

// Run with:
//
//	go test -run '^$' -bench . -benchtime 200x ./discovery/
//
// (BenchmarkFullSync and BenchmarkKeepAliveLoad do a fixed amount of work
// per op; -benchtime 3x is plenty for them.)

// latencies collects per-operation durations and reports percentiles.
type latencies []time.Duration

func (l latencies) report(b *testing.B) {
	if len(l) == 0 {
		return
	}
	slices.Sort(l)
	pct := func(p float64) float64 {
		return float64(l[int(p*float64(len(l)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}

// inCache waits until w lists (or, with present false, no longer lists) id.
func inCache(b *testing.B, w *discovery.Watcher, id string, present bool) {
	timeout := time.After(10 * time.Second)
	for {
		insts := w.Instances()
		_, found := slices.BinarySearchFunc(insts, id, func(in discovery.Instance, id string) int { return strings.Compare(in.ID, id) })
		if found == present {
			return
		}
		select {
		case <-w.Changes():
		case <-timeout:
			b.Fatalf("%s never %v in the cache", id, present)
		}
	}
}

// Registration to visible in another watcher's cache, on an embedded node
// with its in-process client. Targets: p50 ≤ 5 ms, p99 ≤ 20 ms.
func BenchmarkRegisterToVisible(b *testing.B) {
	n := coordtest.NewNode(b)
	cli := n.Client()
	ctx := context.Background()
	w, err := discovery.Watch(ctx, cli, "bench", quiet)
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	if err := w.WaitReady(ctx); err != nil {
		b.Fatal(err)
	}
	shared, err := lease.Grant(ctx, cli, 30*time.Second)
	if err != nil {
		b.Fatal(err)
	}
	shared.KeepAlive(ctx)
	defer shared.Revoke(ctx)

	run := func(b *testing.B, opts ...discovery.RegisterOption) {
		var lat latencies
		for i := range b.N {
			id := fmt.Sprintf("i%08d", i)
			start := time.Now()
			reg, err := discovery.Register(ctx, cli, discovery.Instance{Service: "bench", ID: id, Addr: "10.0.0.1:80"}, append(opts, quiet)...)
			if err != nil {
				b.Fatal(err)
			}
			inCache(b, w, id, true)
			lat = append(lat, time.Since(start))
			b.StopTimer()
			if err := reg.Close(ctx); err != nil {
				b.Fatal(err)
			}
			inCache(b, w, id, false)
			b.StartTimer()
		}
		lat.report(b)
	}
	b.Run("discovery/shared-lease", func(b *testing.B) { run(b, discovery.WithLease(shared)) })
	b.Run("discovery/own-lease", func(b *testing.B) { run(b, discovery.WithTTL(10*time.Second)) })

	// Baseline: a raw Put seen by a raw clientv3 watch.
	b.Run("raw/put+watch", func(b *testing.B) {
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		wch := cli.Watch(wctx, "raw/bench/", clientv3.WithPrefix())
		var lat latencies
		for i := range b.N {
			key := fmt.Sprintf("raw/bench/i%08d", i)
			start := time.Now()
			if _, err := cli.Put(ctx, key, `{"Op":0,"Addr":"10.0.0.1:80"}`, clientv3.WithLease(shared.ID())); err != nil {
				b.Fatal(err)
			}
			for seen := false; !seen; {
				resp := <-wch
				for _, ev := range resp.Events {
					seen = seen || string(ev.Kv.Key) == key
				}
			}
			lat = append(lat, time.Since(start))
			b.StopTimer()
			if _, err := cli.Delete(ctx, key); err != nil {
				b.Fatal(err)
			}
			<-wch
			b.StartTimer()
		}
		lat.report(b)
	})
}

// populate writes count instances of service with raw transactions.
func populate(b *testing.B, cli *clientv3.Client, service string, count int) {
	ctx := context.Background()
	const batch = 100
	for i := 0; i < count; i += batch {
		var ops []clientv3.Op
		for j := i; j < min(i+batch, count); j++ {
			ops = append(ops, clientv3.OpPut(fmt.Sprintf("coordkit/services/%s/i%06d", service, j),
				fmt.Sprintf(`{"Op":0,"Addr":"10.%d.%d.%d:8080","Metadata":{"zone":"z%d","version":"v1"}}`, j>>16, (j>>8)&255, j&255, j%3)))
		}
		if _, err := cli.Txn(ctx).Then(ops...).Commit(); err != nil {
			b.Fatal(err)
		}
	}
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// 10,000 instances, 100 watchers started at once: time until every one
// holds all 10,000, and heap per watcher. "shared-client" is one process
// (one client, so one etcd watch and one cache for all); "client-each" gives
// every watcher its own in-process client, as 100 processes would have.
func BenchmarkFullSync(b *testing.B) {
	const instances, watchers = 10000, 100
	n := coordtest.NewNode(b)
	populate(b, n.Client(), "big", instances)
	ctx := context.Background()

	sync100 := func(b *testing.B, clients []*clientv3.Client) {
		var bytesPer float64
		for range b.N {
			before := heapInUse()
			ws := make([]*discovery.Watcher, watchers)
			var wg sync.WaitGroup
			start := time.Now()
			for i := range ws {
				w, err := discovery.Watch(ctx, clients[i%len(clients)], "big", quiet)
				if err != nil {
					b.Fatal(err)
				}
				ws[i] = w
				wg.Go(func() {
					if err := w.WaitReady(ctx); err != nil {
						b.Error(err)
					}
				})
			}
			wg.Wait()
			elapsed := time.Since(start)
			for _, w := range ws {
				if len(w.Instances()) != instances {
					b.Fatalf("synced %d instances, want %d", len(w.Instances()), instances)
				}
			}
			b.ReportMetric(float64(elapsed.Microseconds())/1000, "ms-to-sync")
			bytesPer = float64(heapInUse()-before) / watchers
			for _, w := range ws {
				w.Close()
			}
		}
		b.ReportMetric(bytesPer/1024, "KiB/watcher")
	}
	b.Run("shared-client", func(b *testing.B) { sync100(b, []*clientv3.Client{n.Client()}) })
	b.Run("client-each", func(b *testing.B) {
		clients := make([]*clientv3.Client, watchers)
		for i := range clients {
			clients[i] = v3client.New(n.Etcd().Server)
			defer clients[i].Close()
		}
		sync100(b, clients)
	})
	// Baseline: 100 raw paged-less Gets of the prefix at once, no decoding.
	b.Run("raw/get-each", func(b *testing.B) {
		clients := make([]*clientv3.Client, watchers)
		for i := range clients {
			clients[i] = v3client.New(n.Etcd().Server)
			defer clients[i].Close()
		}
		for range b.N {
			var wg sync.WaitGroup
			start := time.Now()
			for _, c := range clients {
				wg.Go(func() {
					resp, err := c.Get(ctx, "coordkit/services/big/", clientv3.WithPrefix())
					if err != nil || len(resp.Kvs) != instances {
						b.Errorf("raw get: %v, %d keys", err, len(resp.Kvs))
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(time.Since(start).Microseconds())/1000, "ms-to-sync")
		}
	})
}

// countingLease counts the keep-alive requests a client sends.
type countingLease struct {
	clientv3.Lease
	n atomic.Int64
}

func (c *countingLease) KeepAliveOnce(ctx context.Context, id clientv3.LeaseID) (*clientv3.LeaseKeepAliveResponse, error) {
	c.n.Add(1)
	return c.Lease.KeepAliveOnce(ctx, id)
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Keep-alive load of 200 registrations with a 3 s TTL, one op being one
// second of steady state: CPU (client and embedded server, one process)
// per second, with one shared lease against one lease per registration,
// and the single keep-alive requests per second (a lease.Lease renews so;
// registrations with leases of their own renew on the client's keep-alive
// stream, like raw, and are not counted). The raw baseline is clientv3's
// own streaming KeepAlive on 200 leases; idle-node is the CPU the node uses
// with nothing registered (coordtest's 10 ms raft heartbeat).
func BenchmarkKeepAliveLoad(b *testing.B) {
	const regs, ttl = 200, 3 * time.Second
	n := coordtest.NewNode(b)
	ctx := context.Background()

	measure := func(b *testing.B, counter *countingLease) {
		b.ResetTimer()
		cpu0, start := cpuTime(), time.Now()
		var ka0 int64
		if counter != nil {
			ka0 = counter.n.Load()
		}
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for range b.N {
			<-tick.C
		}
		secs := time.Since(start).Seconds()
		if counter != nil {
			b.ReportMetric(float64(counter.n.Load()-ka0)/secs, "keepalives/s")
		}
		b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/1000/secs, "cpu-ms/s")
	}
	setup := func(b *testing.B, shared bool) *countingLease {
		cli := v3client.New(n.Etcd().Server)
		b.Cleanup(func() { cli.Close() })
		counter := &countingLease{Lease: cli.Lease}
		cli.Lease = counter
		var opts []discovery.RegisterOption
		if shared {
			l, err := lease.Grant(ctx, cli, ttl)
			if err != nil {
				b.Fatal(err)
			}
			lctx, cancel := context.WithCancel(ctx)
			l.KeepAlive(lctx)
			b.Cleanup(func() { cancel(); _ = l.Revoke(ctx) })
			opts = append(opts, discovery.WithLease(l))
		} else {
			opts = append(opts, discovery.WithTTL(ttl))
		}
		for i := range regs {
			reg, err := discovery.Register(ctx, cli, discovery.Instance{Service: "ka", ID: fmt.Sprintf("i%04d", i), Addr: "10.0.0.1:80"}, append(opts, quiet)...)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = reg.Close(ctx) })
		}
		return counter
	}
	b.Run("idle-node", func(b *testing.B) { measure(b, nil) }) // what the node costs alone
	b.Run("discovery/shared-lease", func(b *testing.B) { measure(b, setup(b, true)) })
	b.Run("discovery/lease-per-registration", func(b *testing.B) { measure(b, setup(b, false)) })
	b.Run("raw/clientv3-keepalive-per-lease", func(b *testing.B) {
		cli := v3client.New(n.Etcd().Server)
		defer cli.Close()
		kctx, cancel := context.WithCancel(ctx)
		defer cancel()
		for i := range regs {
			g, err := cli.Grant(ctx, int64(ttl.Seconds()))
			if err != nil {
				b.Fatal(err)
			}
			ch, err := cli.KeepAlive(kctx, g.ID)
			if err != nil {
				b.Fatal(err)
			}
			go func() {
				for range ch {
				}
			}()
			if _, err := cli.Put(ctx, fmt.Sprintf("raw/ka/i%04d", i), "x", clientv3.WithLease(g.ID)); err != nil {
				b.Fatal(err)
			}
		}
		measure(b, nil)
	})
}
