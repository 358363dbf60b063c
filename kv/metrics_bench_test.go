package kv_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/coordkit/coordkit/coordtest"
	"github.com/coordkit/coordkit/kv"
	"github.com/coordkit/coordkit/metrics/prom"
)

// BenchmarkMetricsCost measures what WithMetrics (on a Prometheus registry)
// costs a Batcher put, the kv write path that reports (Store.Put reports
// nothing). Puts with and without metrics alternate in slices of one run,
// in turn going first; fsync is off so the overhead is as visible as it
// gets. Target: with/without ≥ 0.97.
//
//	go test -run '^$' -bench MetricsCost -benchtime 20000x ./kv/
func BenchmarkMetricsCost(b *testing.B) {
	n := coordtest.NewNode(b, coordtest.WithQuota(2<<30))
	ctx := context.Background()
	p := prom.New(prometheus.NewRegistry())
	batcher := func(prefix string, opts ...kv.Option) *kv.Batcher[string] {
		s, err := kv.New[string](n.Client(), prefix, append(opts, kv.WithCodec(kv.StringCodec))...)
		if err != nil {
			b.Fatal(err)
		}
		bt, err := s.Batcher()
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { bt.Close(context.Background()) })
		return bt
	}
	off, on := batcher("off"), batcher("on", kv.WithMetrics(p))
	for _, writers := range []int{1, 64} {
		keys := benchKeys(writers, "")
		put := func(bt *kv.Batcher[string]) func(w, i int) error {
			return func(w, i int) error { _, err := bt.Put(ctx, keys[w][i%benchKeysPerWriter], benchValue); return err }
		}
		plain, measured := put(off), put(on)
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			slice := 4 * writers // short slices: the machine's load changes fast
			var offT, onT time.Duration
			for done, turn := 0, 0; done < b.N; done, turn = done+slice, turn+1 {
				ops := min(slice, b.N-done)
				if turn%2 == 0 {
					offT += timed(b, writers, ops, plain)
					onT += timed(b, writers, ops, measured)
				} else {
					onT += timed(b, writers, ops, measured)
					offT += timed(b, writers, ops, plain)
				}
			}
			b.ReportMetric(float64(b.N)/offT.Seconds(), "off-ops/s")
			b.ReportMetric(float64(b.N)/onT.Seconds(), "on-ops/s")
			b.ReportMetric(offT.Seconds()/onT.Seconds(), "on/off")
		})
	}
}
