package election

import (
	"context"
	"errors"
	"time"

	"github.com/coordkit/coordkit/internal/keyguard"
	"github.com/coordkit/coordkit/lease"
	"github.com/coordkit/coordkit/metrics"
)

// WithMetrics makes campaigns report to p (see the metrics package; the
// prom subpackage registers them on a Prometheus registry):
//
//   - coordkit_election_campaigns_total: campaigns started.
//   - coordkit_election_terms_won_total: campaigns that won a term.
//   - coordkit_election_leadership_lost_total{cause}: terms that ended
//     without Resign, by cause: "key_deleted", "lease_expired",
//     "lease_revoked", "deadline_passed", "closed" or "other".
//   - coordkit_election_takeover_seconds: for a candidate that waited for
//     its predecessor, the time from seeing the predecessor's key deleted
//     to holding the term.
//   - coordkit_election_leader: terms this process holds now (1 while a
//     single election's Run leads).
//
// Without it, nothing is measured.
func WithMetrics(p metrics.Provider) Option {
	return func(o *options) {
		o.metrics, o.leaseOpts = newElectionMetrics(p), []lease.Option{lease.WithMetrics(p)}
	}
}

type electionMetrics struct {
	campaigns, won, lost metrics.Counter
	takeover             metrics.Histogram
	leader               metrics.Gauge
}

func newElectionMetrics(p metrics.Provider) *electionMetrics {
	if p == nil {
		return nil
	}
	return &electionMetrics{
		campaigns: p.Counter(metrics.Desc{Name: "coordkit_election_campaigns_total", Help: "Campaigns started."}),
		won:       p.Counter(metrics.Desc{Name: "coordkit_election_terms_won_total", Help: "Campaigns that won a term."}),
		lost:      p.Counter(metrics.Desc{Name: "coordkit_election_leadership_lost_total", Help: "Terms that ended without Resign, by cause.", Labels: []string{"cause"}}),
		takeover:  p.Histogram(metrics.Desc{Name: "coordkit_election_takeover_seconds", Help: "Time from seeing the predecessor's key deleted to holding the term."}),
		leader:    p.Gauge(metrics.Desc{Name: "coordkit_election_leader", Help: "Terms this process currently holds."}),
	}
}

// elected records a term won; sawDelete is when the predecessor's deletion
// was seen, zero if the candidate did not wait.
func (m *electionMetrics) elected(t *Term, sawDelete time.Time) {
	m.won.Add(1)
	if !sawDelete.IsZero() {
		m.takeover.Observe(time.Since(sawDelete).Seconds())
	}
	m.leader.Add(1)
	ctx := t.Context()
	context.AfterFunc(ctx, func() {
		m.leader.Add(-1)
		if cause := context.Cause(ctx); !errors.Is(cause, ErrReleased) {
			m.lost.Add(1, keyguard.LossCause(cause))
		}
	})
}
