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

// BenchmarkBatcher is the Batcher's scaling table, fsync on, against raw
// clientv3 on the same node in the same run: raw Put, and raw txn batching
// (8 goroutines each sending txns of 64 puts, the reference), in
// process and over gRPC. "batcher" callers each wait for their write;
// "batcher-async" callers keep 16 PutAsync futures outstanding each.
//
//	go test -run '^$' -bench 'Batcher$' -benchtime 20000x ./kv/
func BenchmarkBatcher(b *testing.B) {
	n := coordtest.NewNode(b, coordtest.WithFsync(), coordtest.WithQuota(2<<30))
	ctx := context.Background()
	for _, tr := range []struct {
		name string
		cli  *clientv3.Client
	}{{"inprocess", n.Client()}, {"grpc", n.NewClient(b)}} {
		cli := tr.cli
		store, err := kv.New[string](cli, "kv", kv.WithCodec(kv.StringCodec))
		if err != nil {
			b.Fatal(err)
		}
		rawKeys := benchKeys(8, "rawtxn/")
		b.Run(tr.name+"/reference-raw-txn64x8", func(b *testing.B) {
			rawTxns(b, cli, rawKeys)
		})
		for _, writers := range []int{1, 16, 64, 256, 1024} {
			keys := benchKeys(writers, "")
			raw := benchKeys(writers, "raw/")
			b.Run(fmt.Sprintf("%s/writers=%d/raw-put", tr.name, writers), func(b *testing.B) {
				parallel(b, writers, func(w, i int) error {
					_, err := cli.Put(ctx, raw[w][i%benchKeysPerWriter], benchValue)
					return err
				})
			})
			b.Run(fmt.Sprintf("%s/writers=%d/batcher", tr.name, writers), func(b *testing.B) {
				bat, err := store.Batcher()
				if err != nil {
					b.Fatal(err)
				}
				defer bat.Close(context.Background())
				parallel(b, writers, func(w, i int) error {
					_, err := bat.Put(ctx, keys[w][i%benchKeysPerWriter], benchValue)
					return err
				})
			})
			b.Run(fmt.Sprintf("%s/writers=%d/batcher-async", tr.name, writers), func(b *testing.B) {
				bat, err := store.Batcher()
				if err != nil {
					b.Fatal(err)
				}
				defer bat.Close(context.Background())
				asyncWriters(b, writers, 16, func(w, i int) *kv.Future {
					return bat.PutAsync(ctx, keys[w][i%benchKeysPerWriter], benchValue)
				})
			})
		}
	}
}

// rawTxns: b.N puts as txns of 64 from 8 goroutines; reports puts/s.
func rawTxns(b *testing.B, cli *clientv3.Client, keys [][]string) {
	ctx := context.Background()
	txns := (b.N + 63) / 64
	var next atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, 8)
	b.ResetTimer()
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ops := make([]clientv3.Op, 64)
			for {
				t := int(next.Add(1) - 1)
				if t >= txns {
					return
				}
				for j := range ops {
					ops[j] = clientv3.OpPut(keys[w][(t*64+j)%benchKeysPerWriter], benchValue)
				}
				if _, err := cli.Txn(ctx).Then(ops...).Commit(); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	close(errc)
	for err := range errc {
		b.Fatal(err)
	}
	b.ReportMetric(float64(txns*64)/b.Elapsed().Seconds(), "ops/s")
}

// asyncWriters runs b.N writes over writers goroutines, each keeping up to
// window futures outstanding, and reports the throughput.
func asyncWriters(b *testing.B, writers, window int, put func(w, i int) *kv.Future) {
	b.Helper()
	ctx := context.Background()
	var next atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, writers)
	b.ResetTimer()
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ring := make([]*kv.Future, window)
			defer func() {
				for _, f := range ring {
					if f != nil {
						if _, err := f.Wait(ctx); err != nil {
							errc <- err
						}
					}
				}
			}()
			for j := 0; ; j++ {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				if f := ring[j%window]; f != nil {
					if _, err := f.Wait(ctx); err != nil {
						errc <- err
						ring[j%window] = nil
						return
					}
				}
				ring[j%window] = put(w, int(i))
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	close(errc)
	for err := range errc {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

// BenchmarkBatcherSingleWriterOverRaw: one writer, Batcher.Put against raw
// Put in process, alternated in slices of one run (target: ≥ 0.95 × raw).
//
//	go test -run '^$' -bench BatcherSingleWriterOverRaw -benchtime 4000x ./kv/
func BenchmarkBatcherSingleWriterOverRaw(b *testing.B) {
	n := coordtest.NewNode(b, coordtest.WithFsync(), coordtest.WithQuota(2<<30))
	ctx := context.Background()
	cli := n.Client()
	store, err := kv.New[string](cli, "kv", kv.WithCodec(kv.StringCodec))
	if err != nil {
		b.Fatal(err)
	}
	bat, err := store.Batcher()
	if err != nil {
		b.Fatal(err)
	}
	defer bat.Close(context.Background())
	rawKeys := benchKeys(1, "raw/")
	kvKeys := benchKeys(1, "")
	raw := func(w, i int) error { _, err := cli.Put(ctx, rawKeys[w][i%benchKeysPerWriter], benchValue); return err }
	batched := func(w, i int) error { _, err := bat.Put(ctx, kvKeys[w][i%benchKeysPerWriter], benchValue); return err }
	slice := max(1, b.N/16)
	var rawT, batT time.Duration
	for done, turn := 0, 0; done < b.N; done, turn = done+slice, turn+1 {
		ops := min(slice, b.N-done)
		if turn%2 == 0 {
			rawT += timed(b, 1, ops, raw)
			batT += timed(b, 1, ops, batched)
		} else {
			batT += timed(b, 1, ops, batched)
			rawT += timed(b, 1, ops, raw)
		}
	}
	b.ReportMetric(float64(b.N)/rawT.Seconds(), "raw-ops/s")
	b.ReportMetric(float64(b.N)/batT.Seconds(), "batcher-ops/s")
	b.ReportMetric(rawT.Seconds()/batT.Seconds(), "batcher/raw")
}
