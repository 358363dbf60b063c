package lease

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit/internal/errs"
	"github.com/coordkit/coordkit/internal/etcderr"
)

// Lease is a granted etcd lease. It is safe for concurrent use.
type Lease struct {
	cli *clientv3.Client
	id  clientv3.LeaseID
	ttl time.Duration

	mu       sync.Mutex
	deadline time.Time // conservative local expiry
	started  bool
	stop     func()
	loopDone chan struct{}
	done     chan struct{}
	err      error
	ctx      context.Context         // made at the first Context call
	cancel   context.CancelCauseFunc // cancels ctx; nil until then
	metrics  *leaseMetrics           // nil: not measured
	log      *slog.Logger
}

// Grant asks etcd for a lease of the given TTL (at least one second; rounded
// up to whole seconds) and returns it. The lease is not kept alive until
// KeepAlive is called.
//
// Options: WithMetrics, WithLogger.
func Grant(ctx context.Context, cli *clientv3.Client, ttl time.Duration, opts ...Option) (*Lease, error) {
	if cli == nil {
		return nil, fmt.Errorf("lease: grant %v: %w", ttl, errs.NilClient)
	}
	secs, err := seconds(ttl)
	if err != nil {
		return nil, fmt.Errorf("lease: grant %v: %w", ttl, err)
	}
	if err := etcderr.Unsent(ctx, cli); err != nil {
		return nil, fmt.Errorf("lease: grant %v: %w", ttl, err)
	}
	sent := time.Now()
	resp, err := cli.Grant(ctx, secs)
	if err != nil {
		return nil, fmt.Errorf("lease: grant %v: %w", ttl, etcderr.Outcome(err))
	}
	granted := time.Duration(resp.TTL) * time.Second
	return newLease(cli, resp.ID, granted, sent.Add(granted), buildOptions(opts)), nil
}

// Open returns a handle for a lease that already exists (granted by another
// handle, process or etcdctl), reading its TTL and remaining time. It
// returns ErrExpired if etcd does not have the lease. Options: WithMetrics,
// WithLogger.
func Open(ctx context.Context, cli *clientv3.Client, id clientv3.LeaseID, opts ...Option) (*Lease, error) {
	if cli == nil {
		return nil, fmt.Errorf("lease: open %x: %w", int64(id), errs.NilClient)
	}
	if id <= 0 {
		return nil, fmt.Errorf("lease: open %x: %w: lease IDs are positive; pass the ID etcd granted", int64(id), ErrInvalidArgument)
	}
	sent := time.Now()
	resp, err := cli.TimeToLive(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("lease: open %x: %w", int64(id), etcderr.WrapMemberStopped(err))
	}
	if resp.TTL <= 0 {
		return nil, fmt.Errorf("lease: open %x: %w", int64(id), ErrExpired)
	}
	return newLease(cli, id, time.Duration(resp.GrantedTTL)*time.Second, sent.Add(time.Duration(resp.TTL)*time.Second), buildOptions(opts)), nil
}

func newLease(cli *clientv3.Client, id clientv3.LeaseID, ttl time.Duration, deadline time.Time, o options) *Lease {
	return &Lease{cli: cli, id: id, ttl: ttl, deadline: deadline, done: make(chan struct{}), metrics: o.metrics, log: o.logger}
}

// seconds converts a TTL to etcd's whole seconds. Its error has no package
// prefix: callers add "lease: <op>: ".
func seconds(ttl time.Duration) (int64, error) {
	if ttl < time.Second {
		return 0, fmt.Errorf("%w: got %v; use a TTL of 1s or more (etcd's own minimum is 1.5 × its election timeout)", ErrInvalidTTL, ttl)
	}
	return int64(math.Ceil(ttl.Seconds())), nil
}

// ID is the lease's etcd ID, to attach keys with clientv3.WithLease.
func (l *Lease) ID() clientv3.LeaseID { return l.id }

// TTL is the TTL etcd granted, which may exceed the one asked for.
func (l *Lease) TTL() time.Duration { return l.ttl }

// Deadline is the latest moment the lease is known to live until, counted
// conservatively from when the last successful keep-alive was sent.
func (l *Lease) Deadline() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.deadline
}

// Done is closed when the lease is lost or this handle stops keeping it
// alive; Err then says why.
func (l *Lease) Done() <-chan struct{} { return l.done }

// Err returns nil while the lease is held, and why it was lost once Done is
// closed.
func (l *Lease) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// Context returns a context cancelled, with Err as its cause
// (context.Cause), when Done closes: the lease is lost or this handle was
// closed or revoked. It carries no values and no deadline of its own; derive
// from it, or tie another context to it with context.AfterFunc, to stop
// work the lease backs. It costs no goroutine: Done and the context are
// closed by the same call.
func (l *Lease) Context() context.Context {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ctx == nil {
		l.ctx, l.cancel = context.WithCancelCause(context.Background())
		if l.err != nil {
			l.cancel(l.err)
		}
	}
	return l.ctx
}

// lose records why the lease is gone and closes Done (and cancels Context),
// once.
func (l *Lease) lose(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return
	}
	l.err = err
	close(l.done)
	if l.cancel != nil {
		l.cancel(err)
	}
	if l.metrics != nil {
		l.metrics.lost(err)
	}
}

// KeepAliveOnce renews the lease once and returns the TTL etcd reset it to.
// It returns an error wrapping ErrExpired if etcd no longer has the lease.
func (l *Lease) KeepAliveOnce(ctx context.Context) (time.Duration, error) {
	ttl, err := l.renew(ctx)
	if err != nil {
		return 0, fmt.Errorf("lease: keep-alive %x: %w", int64(l.id), err)
	}
	return ttl, nil
}

// renew is KeepAliveOnce without the package prefix on its error (the
// keep-alive loop wraps it in Err's own).
func (l *Lease) renew(ctx context.Context) (time.Duration, error) {
	sent := time.Now()
	resp, err := l.cli.KeepAliveOnce(ctx, l.id)
	if err != nil {
		if errors.Is(err, rpctypes.ErrLeaseNotFound) {
			return 0, ErrExpired
		}
		return 0, etcderr.WrapMemberStopped(err)
	}
	ttl := time.Duration(resp.TTL) * time.Second
	l.mu.Lock()
	if d := sent.Add(ttl); d.After(l.deadline) {
		l.deadline = d
	}
	l.mu.Unlock()
	return ttl, nil
}

// Revoke revokes the lease, deleting every key attached to it, and stops
// keeping it alive. It is idempotent: revoking a lease that is already gone
// succeeds. Done is closed with ErrRevoked; if the revoke fails, Done is
// closed anyway (the keep-alive has stopped) with an error wrapping
// ErrClosed, and Revoke can be retried.
func (l *Lease) Revoke(ctx context.Context) error {
	l.halt()
	err := etcderr.Unsent(ctx, l.cli)
	if err == nil {
		if _, err = l.cli.Revoke(ctx, l.id); err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
			err = etcderr.Outcome(err)
		}
	}
	if err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		// The keep-alive has stopped either way: whether or not etcd
		// revoked the lease, this handle no longer backs it.
		l.lose(fmt.Errorf("lease: %x: %w: revoke failed and the keep-alive stopped: %w", int64(l.id), ErrClosed, err))
		return fmt.Errorf("lease: revoke %x: %w; the keep-alive has stopped, so the lease is revoked or expires within its TTL: retry Revoke to be sure", int64(l.id), err)
	}
	l.lose(fmt.Errorf("lease: %x: %w", int64(l.id), ErrRevoked))
	return nil
}

// Close stops keeping the lease alive without revoking it: etcd expires it
// after its TTL. Done is closed with ErrClosed unless the lease was lost
// before. Close is idempotent.
func (l *Lease) Close() {
	l.halt()
	l.lose(fmt.Errorf("lease: %x: %w", int64(l.id), ErrClosed))
}

// halt stops the keep-alive loop, if any, and waits for it.
func (l *Lease) halt() {
	l.mu.Lock()
	stop, loopDone := l.stop, l.loopDone
	l.mu.Unlock()
	if stop != nil {
		stop()
		<-loopDone
	}
}
