package lock

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/coordkit/coordkit/metrics/prom"
)

// BenchmarkMetricsInstrumentation is the CPU cost of what one measured
// Lock + Unlock reports (an acquisition, its wait and its hold time) on a
// Prometheus registry, without etcd: the floor of WithMetrics' cost.
func BenchmarkMetricsInstrumentation(b *testing.B) {
	m := newLockMetrics(prom.New(prometheus.NewRegistry()))
	start := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		m.acquired(start, nil)
		m.hold.Observe(time.Since(start).Seconds())
	}
}
