package kv

import (
	"time"

	"github.com/coordkit/coordkit/metrics"
)

// WithMetrics makes the Store, its Watchers and its Batchers report to p
// (see the metrics package; the prom subpackage registers them on a
// Prometheus registry):
//
//   - coordkit_kv_batch_size_ops: operations per transaction a Batcher
//     committed.
//   - coordkit_kv_batch_commit_seconds: time a Batcher's transaction took.
//   - coordkit_kv_watch_resumes_total: broken watches resumed from their
//     last revision.
//   - coordkit_kv_watch_resyncs_total: watches resynchronised with the full
//     state because etcd compacted the history they needed.
//
// Without it, nothing is measured.
func WithMetrics(p metrics.Provider) Option {
	return func(o *options) { o.metrics = newKVMetrics(p) }
}

type kvMetrics struct {
	batchSize, commit metrics.Histogram
	resumes, resyncs  metrics.Counter
}

func newKVMetrics(p metrics.Provider) *kvMetrics {
	if p == nil {
		return nil
	}
	return &kvMetrics{
		batchSize: p.Histogram(metrics.Desc{Name: "coordkit_kv_batch_size_ops", Help: "Operations per transaction a Batcher committed.", Buckets: metrics.SizeBuckets}),
		commit:    p.Histogram(metrics.Desc{Name: "coordkit_kv_batch_commit_seconds", Help: "Time a Batcher's transaction took."}),
		resumes:   p.Counter(metrics.Desc{Name: "coordkit_kv_watch_resumes_total", Help: "Broken watches resumed from their last revision."}),
		resyncs:   p.Counter(metrics.Desc{Name: "coordkit_kv_watch_resyncs_total", Help: "Watches resynchronised with the full state after compaction."}),
	}
}

// committed records one Batcher transaction of n operations sent at start.
func (m *kvMetrics) committed(n int, start time.Time) {
	m.batchSize.Observe(float64(n))
	m.commit.Observe(time.Since(start).Seconds())
}

// hooks returns the watchresume callbacks for resumes and resyncs, nil
// when not measured.
func (m *kvMetrics) hooks() (resumed, resynced func()) {
	if m == nil {
		return nil, nil
	}
	return func() { m.resumes.Add(1) }, func() { m.resyncs.Add(1) }
}
