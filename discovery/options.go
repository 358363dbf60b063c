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

// Option configures Register, Watch and NewResolverBuilder. Each option
// says which calls it applies to; giving one to a call it does not apply
// to is an ErrInvalidOption, not silently ignored.
type Option func(*options)

type options struct {
	ttl        time.Duration
	ttlSet     bool
	lease      *lease.Lease
	leaseSet   bool
	namespace  string
	logger     *slog.Logger
	staleAfter time.Duration
	metrics    *discoveryMetrics // nil: not measured
	leaseOpts  []lease.Option    // for the registration's own lease

	registerOnly []string // names of options that only Register takes
	watchOnly    []string // names of options that only Watch takes
}

// WithTTL sets the TTL of the lease a Registration grants itself (default
// DefaultTTL; at least one second, rounded up to whole seconds as etcd
// counts them: a smaller one, zero included, is refused with an error
// wrapping ErrInvalidOption and lease.ErrInvalidTTL). A crashed instance
// stays listed for up to one TTL. Register only; it excludes WithLease.
func WithTTL(ttl time.Duration) Option {
	return func(o *options) {
		o.ttl, o.ttlSet = ttl, true
		o.registerOnly = append(o.registerOnly, "WithTTL")
	}
}

// WithLease attaches the registration to an existing lease, so that all of
// a process's registrations (and its locks, elections...) ride one lease
// and one keep-alive. The caller keeps the lease alive (lease.KeepAlive)
// and owns it: Close deletes the key but never revokes a shared lease.
//
// If the shared lease is lost (expired during a partition, revoked or
// closed), the registrations do not give up: every registration of that
// lease moves to one replacement lease with the same TTL, granted and kept
// alive by this package and revoked when the last of them closes.
// Register only; it excludes WithTTL.
func WithLease(l *lease.Lease) Option {
	return func(o *options) {
		o.lease, o.leaseSet = l, true
		o.registerOnly = append(o.registerOnly, "WithLease")
	}
}

// WithNamespace sets the key prefix (default DefaultNamespace). Keys are
// <namespace>/<service>/<id>, so etcd's naming/endpoints Manager and its
// "etcd:///" gRPC resolver find instances under the target
// <namespace>/<service>. Register, Watch and NewResolverBuilder.
func WithNamespace(ns string) Option {
	return func(o *options) { o.namespace = ns }
}

// WithLogger sets where registrations log their state changes and
// watchers their breaks and resyncs (default slog.Default()).
// Register, Watch and NewResolverBuilder.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.logger = l }
}

// WithStaleAfter sets how long a Watcher waits for any answer from etcd
// (an event, or the reply to a progress request or revision read it sends
// when the watch is quiet) before it reports its cache stale (default DefaultStaleAfter,
// at least 100 ms). Watchers of one service share one etcd watch, which
// uses the smallest value any of them asked for. Watch and
// NewResolverBuilder.
func WithStaleAfter(d time.Duration) Option {
	return func(o *options) {
		o.staleAfter = d
		o.watchOnly = append(o.watchOnly, "WithStaleAfter")
	}
}

// callKind says which call options are built for.
type callKind int

const (
	forRegister callKind = iota
	forWatch
)

func buildOptions(kind callKind, opts []Option) (options, error) {
	o := options{}
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	switch {
	case kind == forWatch && len(o.registerOnly) > 0:
		return o, fmt.Errorf("%w: %s applies to Register, not to Watch or a resolver", ErrInvalidOption, strings.Join(o.registerOnly, ", "))
	case kind == forRegister && len(o.watchOnly) > 0:
		return o, fmt.Errorf("%w: %s applies to Watch and resolvers, not to Register", ErrInvalidOption, strings.Join(o.watchOnly, ", "))
	case o.leaseSet && o.lease == nil:
		return o, fmt.Errorf("%w: WithLease(nil): pass a lease from lease.Grant, or leave the option out for a lease of the registration's own", ErrInvalidOption)
	case o.leaseSet && o.ttlSet:
		return o, fmt.Errorf("%w: WithTTL and WithLease together: a shared lease has its own TTL; drop one of them", ErrInvalidOption)
	case o.ttlSet && o.ttl < time.Second:
		return o, fmt.Errorf("%w: WithTTL(%v): %w: etcd counts lease time in whole seconds; use 1s or more, or leave the option out for DefaultTTL", ErrInvalidOption, o.ttl, lease.ErrInvalidTTL)
	case o.staleAfter != 0 && o.staleAfter < 100*time.Millisecond:
		return o, fmt.Errorf("%w: WithStaleAfter(%v): use 100ms or more", ErrInvalidOption, o.staleAfter)
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
	if err := validNamespace(o.namespace); err != nil {
		return o, err
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
		return fmt.Errorf("%w: WithNamespace: %d bytes; keep it under %d", ErrInvalidOption, len(ns), maxLen)
	case strings.HasSuffix(ns, "/"):
		return fmt.Errorf("%w: WithNamespace(%q): no trailing '/'; keys are <namespace>/<service>/<id>", ErrInvalidOption, ns)
	case strings.IndexFunc(ns, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) >= 0:
		return fmt.Errorf("%w: WithNamespace(%q): no spaces or control characters", ErrInvalidOption, ns)
	}
	return nil
}
