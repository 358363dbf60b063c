package lock_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/coordkit/coordkit/coordtest"
	"github.com/coordkit/coordkit/lock"
	"github.com/coordkit/coordkit/metrics/prom"
)

// BenchmarkMetricsCost measures what WithMetrics (on a Prometheus registry)
// costs an uncontended Lock + Unlock: handles with and without metrics
// alternate, operation by operation, in turn going first. Target: with/without
// ≥ 0.97.
//
//	go test -run '^$' -bench MetricsCost -benchtime 5000x ./lock/
func BenchmarkMetricsCost(b *testing.B) {
	n := coordtest.NewNode(b)
	ctx := context.Background()
	mutex := func(name string, opts ...lock.Option) *lock.Mutex {
		m, err := lock.NewMutex(n.Client(), name, opts...)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { m.Close(ctx) })
		return m
	}
	off, on := mutex("off"), mutex("on", lock.WithMetrics(prom.New(prometheus.NewRegistry())))
	cycle := func(m *lock.Mutex, ops int) time.Duration {
		start := time.Now()
		for range ops {
			h, err := m.Lock(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if err := h.Unlock(ctx); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(start)
	}
	cycle(off, 10) // both handles grant their lease before timing
	cycle(on, 10)
	b.ResetTimer()
	slice := 1 // pair every operation: the machine's load changes fast
	var offT, onT time.Duration
	for done, turn := 0, 0; done < b.N; done, turn = done+slice, turn+1 {
		ops := min(slice, b.N-done)
		if turn%2 == 0 {
			offT += cycle(off, ops)
			onT += cycle(on, ops)
		} else {
			onT += cycle(on, ops)
			offT += cycle(off, ops)
		}
	}
	b.ReportMetric(float64(b.N)/offT.Seconds(), "off-ops/s")
	b.ReportMetric(float64(b.N)/onT.Seconds(), "on-ops/s")
	b.ReportMetric(offT.Seconds()/onT.Seconds(), "on/off")
}
