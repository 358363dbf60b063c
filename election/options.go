package election

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/coordkit/coordkit/lease"
)

// DefaultTTL is the TTL of the lease a campaign grants when neither WithTTL
// nor WithLease is given. A leader that vanishes without resigning is
// replaced after about this long.
const DefaultTTL = 10 * time.Second

// Option configures New, NewRunner and Run. It is a RunnerOption.
type Option func(*options)

func (o Option) applyRunner(x *options) {
	if o != nil {
		o(x)
	}
}

// RunnerOption configures NewRunner and Run: WithHealth and every Option.
// An option that applies only to a Runner (WithHealth) does not compile in
// New.
type RunnerOption interface{ applyRunner(*options) }

// runnerOnly is an option only NewRunner and Run take.
type runnerOnly func(*options)

func (o runnerOnly) applyRunner(x *options) {
	if o != nil {
		o(x)
	}
}

// runnerOptions turns a Runner's options into the Options New builds from.
func runnerOptions(opts []RunnerOption) []Option {
	out := make([]Option, 0, len(opts))
	for _, opt := range opts {
		if opt != nil {
			out = append(out, opt.applyRunner)
		}
	}
	return out
}

type options struct {
	ttl       time.Duration
	ttlSet    bool
	lease     *lease.Lease
	shared    bool
	logger    *slog.Logger
	health    *Health
	metrics   *electionMetrics // nil: not measured
	leaseOpts []lease.Option   // for the candidates' own leases
}

// WithTTL sets the TTL of the lease each campaign grants (default
// DefaultTTL; at least one second, rounded up to whole seconds as etcd
// does). A crashed leader is replaced after about one TTL; a shorter TTL
// means faster failover and more keep-alive traffic.
func WithTTL(ttl time.Duration) Option {
	return func(o *options) { o.ttl, o.ttlSet = ttl, true }
}

// WithLease makes campaigns attach their candidate key to l instead of
// granting a lease of their own, so a process can hold one lease for all
// the keys it owns, and a restarted process can resume its candidacy
// (lease.Open with the saved ID; see Campaign). The lease package doc,
// "Leases shared with recipes", states the contract: who renews, what ends
// when it is lost, who revokes it. A lease carries one candidate per
// election: Campaigns sharing l take turns.
func WithLease(l *lease.Lease) Option {
	return func(o *options) { o.lease, o.shared = l, true }
}

// WithLogger sets where Run logs campaigns, elections and losses (default
// slog.Default()); the leases candidates grant for themselves log there too
// (lease.WithLogger).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.logger = l }
}

func buildOptions(opts []Option) (options, error) {
	o := options{ttl: DefaultTTL}
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	switch {
	case o.shared && o.lease == nil:
		return o, fmt.Errorf("%w: WithLease(nil); pass a granted *lease.Lease, or drop the option to let each campaign grant its own", ErrInvalidArgument)
	case o.shared && o.ttlSet:
		return o, fmt.Errorf("%w: WithTTL and WithLease together; a shared lease has its own TTL (set it at lease.Grant)", ErrInvalidArgument)
	case o.ttl < time.Second:
		return o, fmt.Errorf("%w: WithTTL(%v); use 1s or more (etcd counts lease time in whole seconds)", ErrInvalidTTL, o.ttl)
	}
	if o.logger == nil {
		o.logger = slog.Default()
	}
	return o, nil
}
