package lock

import (
	"context"
	"errors"
	"time"

	"github.com/coordkit/coordkit/internal/keyguard"
	"github.com/coordkit/coordkit/lease"
	"github.com/coordkit/coordkit/metrics"
)

// WithMetrics makes the handle report to p (see the metrics package; the
// prom subpackage registers them on a Prometheus registry):
//
//   - coordkit_lock_acquisitions_total{outcome}: acquisition attempts by
//     outcome: "acquired", "busy" (a Try found the lock held) or "failed".
//   - coordkit_lock_wait_seconds: time from asking to holding, for
//     acquisitions that succeeded.
//   - coordkit_lock_hold_seconds: time from acquisition to Unlock or loss.
//   - coordkit_lock_losses_total{cause}: holds lost without Unlock, by
//     cause: "key_deleted", "lease_expired", "lease_revoked",
//     "deadline_passed", "closed" or "other". A loss is seen by a holder
//     that watches its hold (Context, Done, Err, Held.Do).
//   - coordkit_lock_fenced_refused_total: fenced writes (Held.Do, Held.Txn)
//     refused because the hold was over.
//
// Without it, nothing is measured.
func WithMetrics(p metrics.Provider) Option {
	return func(o *options) { o.metrics, o.leaseOpts = newLockMetrics(p), []lease.Option{lease.WithMetrics(p)} }
}

type lockMetrics struct {
	acquisitions metrics.Counter
	wait, hold   metrics.Histogram
	losses       metrics.Counter
	refused      metrics.Counter
}

func newLockMetrics(p metrics.Provider) *lockMetrics {
	if p == nil {
		return nil
	}
	return &lockMetrics{
		acquisitions: p.Counter(metrics.Desc{Name: "coordkit_lock_acquisitions_total", Help: "Lock acquisition attempts, by outcome (acquired, busy, failed).", Labels: []string{"outcome"}}),
		wait:         p.Histogram(metrics.Desc{Name: "coordkit_lock_wait_seconds", Help: "Time from asking for a lock to holding it."}),
		hold:         p.Histogram(metrics.Desc{Name: "coordkit_lock_hold_seconds", Help: "Time a lock was held, until Unlock or loss."}),
		losses:       p.Counter(metrics.Desc{Name: "coordkit_lock_losses_total", Help: "Holds lost without Unlock, by cause.", Labels: []string{"cause"}}),
		refused:      p.Counter(metrics.Desc{Name: "coordkit_lock_fenced_refused_total", Help: "Fenced writes refused because the hold was over."}),
	}
}

// acquired records the outcome of one acquisition that began at start.
func (m *lockMetrics) acquired(start time.Time, err error) {
	switch {
	case err == nil:
		m.acquisitions.Add(1, "acquired")
		m.wait.Observe(time.Since(start).Seconds())
	case errors.Is(err, ErrLocked):
		m.acquisitions.Add(1, "busy")
	default:
		m.acquisitions.Add(1, "failed")
	}
}

// watch records the hold's end once ctx, the hold's context, ends.
func (m *lockMetrics) watch(h *Held, ctx context.Context) {
	context.AfterFunc(ctx, func() {
		cause := context.Cause(ctx)
		if errors.Is(cause, ErrReleased) {
			return // Unlock recorded the hold time
		}
		m.hold.Observe(time.Since(h.since).Seconds())
		m.losses.Add(1, keyguard.LossCause(cause))
	})
}
