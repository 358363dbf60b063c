package discovery

import (
	"github.com/coordkit/coordkit/internal/etcderr"

	"context"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit/internal/backoff"
	"github.com/coordkit/coordkit/internal/keyguard"
	"github.com/coordkit/coordkit/lease"
)

// supervise keeps the registration in etcd until Close: it waits for the
// registration to be lost, then re-registers with backoff, forever.
func (r *Registration) supervise() {
	defer close(r.done)
	retry := backoff.New(r.policy())
	for {
		cause := r.hold()
		if r.ctx.Err() != nil {
			return
		}
		r.lost(cause)
		for {
			if retry.Wait(r.ctx) != nil {
				return
			}
			err := r.register(r.ctx)
			if err == nil {
				retry.Reset()
				break
			}
			if r.ctx.Err() != nil {
				return
			}
			if errors.Is(err, ErrClientClosed) {
				r.lost(err)
				return // nothing can bring it back; Close still works
			}
			r.retrying(err)
		}
	}
}

// policy paces re-registration: quick first retries, capped at a quarter
// of the TTL (and 2 s) so an instance is back within a TTL of etcd being
// reachable again.
func (r *Registration) policy() backoff.Policy {
	return backoff.Policy{Initial: 20 * time.Millisecond, Max: min(max(r.leases.ttl()/4, 100*time.Millisecond), 2*time.Second)}
}

// attemptTimeout bounds one grant-and-put: a request stuck on a dead
// connection is abandoned and retried.
func (r *Registration) attemptTimeout() time.Duration {
	return max(r.leases.ttl(), 2*time.Second)
}

// register makes sure a live lease exists and puts the key with it.
func (r *Registration) register(ctx context.Context) error {
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	if r.closed {
		return ErrClosed
	}
	if err := clientClosed(r.cli); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, r.attemptTimeout())
	defer cancel()
	l, err := r.leases.current(ctx)
	if err != nil {
		return fmt.Errorf("grant lease: %w", err)
	}
	// A lease granted over a connection that was slow to come back can be
	// past its (conservative) deadline on arrival: one that cannot be
	// trusted to live is not worth a put.
	if err := usable(l); err != nil {
		r.leases.invalidate(l)
		return err
	}
	resp, err := r.cli.Put(ctx, r.key, string(r.value), clientv3.WithLease(l.ID()), clientv3.WithPrevKV())
	if err != nil {
		if errors.Is(err, rpctypes.ErrLeaseNotFound) {
			r.leases.invalidate(l)
		}
		return fmt.Errorf("put %s with lease %x: %w", r.key, int64(l.ID()), etcderr.WrapNoSpace(err))
	}
	if err := usable(l); err != nil {
		r.leases.invalidate(l)
		return fmt.Errorf("put %s: %w", r.key, err)
	}
	r.lease, r.createRev = l, resp.Header.Revision
	if resp.PrevKv != nil {
		r.createRev = resp.PrevKv.CreateRevision
	}
	again := r.states.get().State == Lost
	r.states.set(StateChange{State: Registered, Lease: l.ID(), Revision: resp.Header.Revision, Time: time.Now()})
	if again {
		r.log.Info("discovery: registered again", "key", r.key, "lease", fmt.Sprintf("%x", int64(l.ID())), "revision", resp.Header.Revision)
	} else {
		r.log.Info("discovery: registered", "key", r.key, "lease", fmt.Sprintf("%x", int64(l.ID())), "revision", resp.Header.Revision)
	}
	return nil
}

// usable reports why l cannot carry a registration, or nil.
func usable(l *lease.Lease) error { return keyguard.LeaseLoss(l) }

// hold blocks until the registration is lost, or Close, and says why.
func (r *Registration) hold() error {
	r.writeMu.Lock()
	l, rev := r.lease, r.createRev
	r.writeMu.Unlock()
	ctx, cancel := keyguard.Guard(r.ctx, r.cli, r.key, rev, l)
	defer cancel()
	<-ctx.Done()
	err := context.Cause(ctx)
	if errors.Is(err, keyguard.ErrKeyGone) {
		err = fmt.Errorf("%w: %w", ErrKeyDeleted, err)
	}
	return err
}

func (r *Registration) lost(cause error) {
	c := r.states.get()
	r.states.set(StateChange{State: Lost, Err: cause, Lease: c.Lease, Time: time.Now()})
	r.log.Warn("discovery: registration lost, re-registering", "key", r.key, "lease", fmt.Sprintf("%x", int64(c.Lease)), "err", cause)
}

// retrying records why the last re-registration attempt failed, readable
// through Err, without queueing a state change per attempt.
func (r *Registration) retrying(err error) {
	r.states.mu.Lock()
	r.states.cur.Err = err
	r.states.mu.Unlock()
	r.log.Debug("discovery: re-registration attempt failed", "key", r.key, "err", err)
}

// clientClosed returns an error wrapping ErrClientClosed (and
// etcderr.ErrClientClosed: nothing was sent) if cli is closed, else nil.
// Checked right before a write.
func clientClosed(cli *clientv3.Client) error {
	if err := etcderr.ClientClosed(cli); err != nil {
		return fmt.Errorf("%w: %w", ErrClientClosed, err)
	}
	return nil
}

// permanent reports errors no retry can fix.
func permanent(err error) bool {
	if errors.Is(err, ErrClientClosed) || errors.Is(err, ErrClosed) {
		return true
	}
	return etcderr.Permanent(err)
}
