package lease

import (
	"errors"

	"github.com/coordkit/coordkit/metrics"
)

// WithMetrics makes the lease report to p (see the metrics package; the
// prom subpackage registers them on a Prometheus registry):
//
//   - coordkit_lease_keepalive_seconds: round-trip time of each renewal
//     that succeeded.
//   - coordkit_lease_losses_total{cause}: leases lost while kept alive, by
//     cause: "expired" (etcd no longer has it: it expired or was revoked
//     elsewhere) or "deadline_passed" (no renewal confirmed in time).
//     Revoke, Close and the end of KeepAlive's context are not losses.
//
// lock and election pass it to the leases they grant when given
// their own WithMetrics. Without it, nothing is measured.
func WithMetrics(p metrics.Provider) Option {
	return func(o *options) { o.metrics = newLeaseMetrics(p) }
}

type leaseMetrics struct {
	keepalive metrics.Histogram
	losses    metrics.Counter
}

func newLeaseMetrics(p metrics.Provider) *leaseMetrics {
	if p == nil {
		return nil
	}
	return &leaseMetrics{
		keepalive: p.Histogram(metrics.Desc{Name: "coordkit_lease_keepalive_seconds", Help: "Round-trip time of lease renewals that succeeded."}),
		losses:    p.Counter(metrics.Desc{Name: "coordkit_lease_losses_total", Help: "Leases lost while kept alive, by cause.", Labels: []string{"cause"}}),
	}
}

// lost records a lease lost for err.
// Revoke, Close and the end of KeepAlive's context are the owner's doing,
// not losses.
func (m *leaseMetrics) lost(err error) {
	switch {
	case errors.Is(err, ErrRevoked), errors.Is(err, ErrClosed):
	case errors.Is(err, ErrExpired):
		m.losses.Add(1, "expired")
	case errors.Is(err, ErrDeadlinePassed):
		m.losses.Add(1, "deadline_passed")
	}
}
