package kv_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit/coordtest"
	"github.com/coordkit/coordkit/kv"
)

// BenchmarkWatchFanOut: N watchers of one prefix on one gRPC client;
// each op is one Put until every watcher has seen it. kv Watchers share one
// etcd watch; raw is N clientv3 watches. setup-µs/watcher is the time to
// open the N watchers, per watcher.
//
//	go test -run '^$' -bench WatchFanOut -benchtime 200x ./kv/
func BenchmarkWatchFanOut(b *testing.B) {
	for _, watchers := range []int{1, 100, 1000, 10000} {
		for _, impl := range []string{"raw", "kv"} {
			b.Run(fmt.Sprintf("watchers=%d/%s", watchers, impl), func(b *testing.B) {
				n := coordtest.NewNode(b)
				// A gRPC client: etcd's in-process stream stalls when many
				// raw watches are opened and cancelled at once (issue 14).
				cli := n.NewClient(b)
				ctx, cancel := context.WithCancel(context.Background())
				store, err := kv.New[string](cli, "fan", kv.WithCodec(kv.StringCodec))
				if err != nil {
					b.Fatal(err)
				}
				var seen atomic.Int64
				round := make(chan struct{}, 1)
				var target atomic.Int64
				got := func() {
					if seen.Add(1) == target.Load() {
						round <- struct{}{}
					}
				}
				// Raw watches start after this revision, so that none misses
				// the first put while clientv3 is still creating it.
				cur, err := cli.Get(ctx, "fan/k")
				if err != nil {
					b.Fatal(err)
				}
				var wg sync.WaitGroup
				start := time.Now()
				for range watchers {
					wg.Add(1)
					switch impl {
					case "raw":
						wch := cli.Watch(ctx, "fan/", clientv3.WithPrefix(), clientv3.WithRev(cur.Header.Revision+1))
						go func() {
							defer wg.Done()
							for resp := range wch {
								for range resp.Events {
									got()
								}
							}
						}()
					case "kv":
						w, err := store.Watch(ctx)
						if err != nil {
							b.Fatal(err)
						}
						go func() {
							defer wg.Done()
							for range w.Events() {
								got()
							}
						}()
					}
				}
				setup := time.Since(start)
				// Every watcher is live once a first put reaches them all.
				target.Store(int64(watchers))
				if _, err := cli.Put(ctx, "fan/k", "warm"); err != nil {
					b.Fatal(err)
				}
				<-round
				b.ResetTimer()
				for i := range b.N {
					target.Store(int64(watchers) * int64(i+2))
					if _, err := cli.Put(ctx, "fan/k", benchValue); err != nil {
						b.Fatal(err)
					}
					<-round
				}
				b.StopTimer()
				cancel()
				wg.Wait()
				b.ReportMetric(float64(setup.Microseconds())/float64(watchers), "setup-µs/watcher")
			})
		}
	}
}
