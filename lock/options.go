package lock

import (
	"fmt"
	"log/slog"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit/lease"
)

// DefaultTTL is the TTL of the lease a handle grants for itself when
// neither WithTTL nor WithLease is given.
const DefaultTTL = 10 * time.Second

// MaxNameLen is the longest lock name accepted, in bytes. etcd has no key
// size limit of its own, but every request must fit in 1.5 MiB and a lock
// request carries its key several times; 64 KiB leaves ample room.
const MaxNameLen = 64 << 10

// Option adjusts a Mutex, RWMutex, Semaphore or Run.
type Option func(*options)

type options struct {
	ttl       time.Duration
	ttlSet    bool
	lease     *lease.Lease
	shared    bool // WithLease was given, possibly with nil
	log       *slog.Logger
	metrics   *lockMetrics   // nil: not measured
	leaseOpts []lease.Option // for the handle's own leases
}

// WithTTL sets the TTL of the lease the handle grants for itself (default
// 10 s, at least 1 s, rounded up to whole seconds as etcd counts them). A
// holder that stops renewing, because it crashed or is cut off, loses the
// lock within about this long. It cannot be combined with WithLease.
func WithTTL(d time.Duration) Option {
	return func(o *options) { o.ttl, o.ttlSet = d, true }
}

// WithLease attaches the handle's keys to an existing lease instead of
// granting one, so one process can hold a single lease for all its locks,
// elections and registrations, and a restarted process can take back its
// locks (lease.Open with the saved ID). The lease package doc, "Leases
// shared with recipes", states the contract: who renews, what ends when it
// is lost, who revokes it.
func WithLease(l *lease.Lease) Option {
	return func(o *options) { o.lease, o.shared = l, true }
}

// WithLogger sets where the handle logs cleanups that failed and will be
// retried (default slog.Default()); the leases the handle grants for itself
// log there too (lease.WithLogger).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.log = l }
}

func buildOptions(op string, cli *clientv3.Client, name string, opts []Option) (*options, error) {
	if cli == nil {
		return nil, errorf(op, name, "%w: nil *clientv3.Client; pass the client from coordkit.Connect or node.Client", ErrInvalidArgument)
	}
	if err := validateName(op, name); err != nil {
		return nil, err
	}
	o := &options{ttl: DefaultTTL}
	for _, opt := range opts {
		if opt != nil {
			opt(o)
		}
	}
	switch {
	case o.shared && o.lease == nil:
		return nil, errorf(op, name, "%w: WithLease(nil); pass a lease from lease.Grant or lease.Open", ErrInvalidArgument)
	case o.shared && o.ttlSet:
		return nil, errorf(op, name, "%w: WithTTL and WithLease both given; the shared lease's own TTL applies, drop WithTTL", ErrInvalidArgument)
	case !o.shared && o.ttl < time.Second:
		return nil, errorf(op, name, "%w: WithTTL(%v); use 1s or more (etcd counts lease time in whole seconds)", ErrInvalidTTL, o.ttl)
	}
	if o.log == nil {
		o.log = slog.Default()
	}
	return o, nil
}

func validateName(op, name string) error {
	switch {
	case name == "":
		return errorf(op, name, "%w: empty; a lock name is an etcd key prefix such as \"jobs/nightly-report\"", ErrInvalidName)
	case len(name) > MaxNameLen:
		return fmt.Errorf("lock: %s: %w: %d bytes, more than MaxNameLen (%d); use a shorter name", op, ErrInvalidName, len(name), MaxNameLen)
	}
	return nil
}
