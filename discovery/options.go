package discovery

import (
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode"

	"github.com/coordkit/coordkit/lease"
)

// Defaults for the options.
const (
	// DefaultTTL is the lease TTL of a Registration without WithTTL or
	// WithLease: how long a crashed instance stays listed.
	DefaultTTL = 10 * time.Second

	// DefaultNamespace is the key prefix under which instances are
	// registered: <namespace>/<service>/<id>.
	DefaultNamespace = "coordkit/services"

	// DefaultStaleAfter is how long a Watcher waits for a sign of life
	// from etcd before it reports its cache stale.
	DefaultStaleAfter = 5 * time.Second
)

// Option is an option every call of the package takes: Register, Watch
// and NewResolverBuilder (WithNamespace, WithLogger, WithMetrics). It is a
// RegisterOption and a WatchOption.
type Option func(*options)

func (o Option) applyRegister(x *options) { o(x) }
func (o Option) applyWatch(x *options)    { o(x) }

// RegisterOption configures Register: WithTTL, WithLease and every Option.
// An option that does not apply to Register does not compile.
type RegisterOption interface{ applyRegister(*options) }

// WatchOption configures Watch and NewResolverBuilder (a resolver is a
// Watcher feeding gRPC): WithStaleAfter and every Option.
type WatchOption interface{ applyWatch(*options) }

// registerOnly is an option only Register takes.
type registerOnly func(*options)

func (o registerOnly) applyRegister(x *options) { o(x) }

// watchOnly is an option only Watch and resolvers take.
type watchOnly func(*options)

func (o watchOnly) applyWatch(x *options) { o(x) }

type options struct {
	ttl        time.Duration
	ttlSet     bool
	lease      *lease.Lease
	leaseSet   bool
	namespace  string
	logger     *slog.Logger
	staleAfter time.Duration
	metrics    *discoveryMetrics // nil: not measured
	err        error             // the first malformed option
}

// fail records the first malformed option.
func (o *options) fail(err error) {
	if o.err == nil {
		o.err = err
	}
}

// WithTTL sets the TTL of the lease a Registration grants itself (default
// DefaultTTL; at least one second, rounded up to whole seconds as etcd
// counts them: a smaller one, zero included, is refused with
// ErrInvalidTTL). A crashed instance stays listed for up to one TTL. It
// excludes WithLease.
func WithTTL(ttl time.Duration) RegisterOption {
	return registerOnly(func(o *options) {
		if ttl < time.Second {
			o.fail(fmt.Errorf("%w: WithTTL(%v); etcd counts lease time in whole seconds: use 1s or more, or leave the option out for DefaultTTL", ErrInvalidTTL, ttl))
		}
		o.ttl, o.ttlSet = ttl, true
	})
}

// WithLease attaches the registration to l, a lease the caller owns, so
// that all of a process's registrations (and its locks, elections...) ride
// one lease and one keep-alive. The contract is the lease package's (see
// its section "Leases shared with recipes"): Register starts l's
// keep-alive if it is not running, Close deletes the key but never revokes
// l, and when l is lost the registration ends (state Ended, Err wrapping
// ErrLost and l's error) instead of moving to a lease of its own; Register
// again on a new lease. A key deleted while l lives is put back on l.
//
// Register of an instance that is already registered on l (a process that
// restarted and re-opened its lease with lease.Open) takes its key back as
// it is. It excludes WithTTL.
func WithLease(l *lease.Lease) RegisterOption {
	return registerOnly(func(o *options) {
		if l == nil {
			o.fail(fmt.Errorf("%w: WithLease(nil); pass a lease from lease.Grant or lease.Open, or leave the option out for a lease of the registration's own", ErrInvalidArgument))
		}
		o.lease, o.leaseSet = l, true
	})
}

// WithNamespace sets the key prefix (default DefaultNamespace). Keys are
// <namespace>/<service>/<id>, so etcd's naming/endpoints Manager and its
// "etcd:///" gRPC resolver find instances under the target
// <namespace>/<service>.
func WithNamespace(ns string) Option {
	return func(o *options) {
		if err := validNamespace(ns); err != nil {
			o.fail(err)
		}
		o.namespace = ns
	}
}

// WithLogger sets where registrations log their state changes and
// watchers their breaks and resyncs (default slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.logger = l }
}

// WithStaleAfter sets how long a Watcher waits for any answer from etcd
// (an event, or the reply to a progress request or revision read it sends
// when the watch is quiet) before it reports its cache stale (default
// DefaultStaleAfter, at least 100 ms). Watchers of one service share one
// etcd watch, which uses the smallest value any of them asked for.
func WithStaleAfter(d time.Duration) WatchOption {
	return watchOnly(func(o *options) {
		if d < 100*time.Millisecond {
			o.fail(fmt.Errorf("%w: WithStaleAfter(%v); use 100ms or more", ErrInvalidArgument, d))
		}
		o.staleAfter = d
	})
}

// registerOptions builds Register's options.
func registerOptions(opts []RegisterOption) (options, error) {
	var o options
	for _, opt := range opts {
		if opt != nil {
			opt.applyRegister(&o)
		}
	}
	if o.err == nil && o.leaseSet && o.ttlSet {
		o.err = fmt.Errorf("%w: WithTTL and WithLease together; a caller's lease has its own TTL: drop one of them", ErrInvalidArgument)
	}
	return o.defaults()
}

// watchOptions builds the options of Watch and NewResolverBuilder.
func watchOptions(opts []WatchOption) (options, error) {
	var o options
	for _, opt := range opts {
		if opt != nil {
			opt.applyWatch(&o)
		}
	}
	return o.defaults()
}

func (o options) defaults() (options, error) {
	if o.err != nil {
		return o, o.err
	}
	if !o.ttlSet {
		o.ttl = DefaultTTL
	}
	if o.staleAfter == 0 {
		o.staleAfter = DefaultStaleAfter
	}
	if o.namespace == "" {
		o.namespace = DefaultNamespace
	}
	if o.logger == nil {
		o.logger = slog.Default()
	}
	return o, nil
}

func validNamespace(ns string) error {
	const maxLen = 512
	switch {
	case len(ns) > maxLen:
		return fmt.Errorf("%w: WithNamespace: %d bytes; keep it under %d", ErrInvalidArgument, len(ns), maxLen)
	case strings.HasSuffix(ns, "/"):
		return fmt.Errorf("%w: WithNamespace(%q): no trailing '/'; keys are <namespace>/<service>/<id>", ErrInvalidArgument, ns)
	case strings.IndexFunc(ns, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) >= 0:
		return fmt.Errorf("%w: WithNamespace(%q): no spaces or control characters", ErrInvalidArgument, ns)
	}
	return nil
}
