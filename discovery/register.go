package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit/internal/backoff"
	"github.com/coordkit/coordkit/internal/etcderr"
)

// Registration is an instance registered in etcd and kept there until
// Close (see the package documentation for what it guarantees and what it
// costs). It is safe for concurrent use.
type Registration struct {
	cli    *clientv3.Client
	key    string
	prefix string // <namespace>/<service>/, what the registry watches
	log    *slog.Logger
	group  *leaseGroup   // WithLease; nil with a lease of its own
	ttl    time.Duration // of the registration's own leases
	wake   chan struct{} // a loss or Close to look at
	wg     sync.WaitGroup

	// Guarded by the registry's lock; putRev, the revision of the last
	// put of the key, is also read without it.
	reg     *registry // set by the first put; guarded by writeMu
	next    *Registration
	tracked bool
	putRev  atomic.Int64

	// writeMu serialises every write of the key and guards the fields
	// below. The own-lease fields are used by one goroutine at a time:
	// Register's caller, then the registration's goroutine, then Close.
	writeMu   sync.Mutex
	inst      Instance
	value     []byte
	leaseID   clientv3.LeaseID // the lease of the last successful put
	own       clientv3.LeaseID // the registration's own lease, 0 before the grant
	ka        <-chan *clientv3.LeaseKeepAliveResponse
	deadline  time.Time // the own lease lives at least until then
	renewedAt time.Time // when the last renewal was answered, or the lease kept alive
	closed    bool
	detached  bool
	closeErr  error

	// sig guards the signals between the registration's goroutines.
	sig           sync.Mutex
	closing       bool
	ended         bool
	pending       error // a loss signalled by the registry
	pendingRev    int64 // the revision of that loss
	recovering    bool  // with WithLease: a goroutine is putting the key back
	cancelAttempt context.CancelFunc

	states states
}

// Register writes inst under <namespace>/<service>/<id>, attached to a
// lease, and keeps it registered until Close (see the package
// documentation's Guarantees for how).
//
// It returns once the key is in etcd. Failures a retry can fix (no leader,
// a member restarting, a timeout) are retried with backoff until ctx ends;
// invalid input, permission errors, a full database (an error wrapping
// ops.ErrNoSpace) and a closed client return at once, wrapping
// ErrRejected or ErrUnknownOutcome. On error nothing is left registered
// (best effort, if etcd can be reached). The put is idempotent (same key,
// value and lease), so it is retried even when its outcome is unknown.
//
// Without WithLease the registration grants a lease of its own (WithTTL).
func Register(ctx context.Context, cli *clientv3.Client, inst Instance, opts ...RegisterOption) (*Registration, error) {
	o, err := registerOptions(opts)
	if err == nil && cli == nil {
		err = fmt.Errorf("%w: nil *clientv3.Client; pass the client from coordkit.Connect or node.Client", ErrInvalidArgument)
	}
	if err != nil {
		return nil, fmt.Errorf("discovery: register %s: %w", inst, err)
	}
	inst, value, err := prepare(inst)
	if err != nil {
		return nil, fmt.Errorf("discovery: register %s: %w", inst, err)
	}
	r := &Registration{
		cli:   cli,
		key:   instanceKey(o.namespace, inst),
		log:   o.logger,
		ttl:   o.ttl,
		wake:  make(chan struct{}, 1),
		inst:  inst,
		value: value,
	}
	r.prefix = r.key[:len(r.key)-len(inst.ID)]
	r.states.metrics = o.metrics
	if o.lease != nil {
		g, ok := joinGroup(o.lease, r)
		r.group = g
		if !ok {
			g.leave(r)
			return nil, fmt.Errorf("discovery: register %s: %w: lease %x: %w; register on a live lease", inst, ErrLeaseLost, int64(o.lease.ID()), o.lease.Err())
		}
	}

	retry := backoff.New(r.policy())
	for {
		// A request stuck on a dead connection is abandoned and retried.
		actx, cancel := context.WithTimeout(ctx, r.attemptTimeout())
		err := r.register(actx)
		cancel()
		if err == nil {
			break
		}
		// A full database (NOSPACE) lasts until an operator acts: report it
		// rather than wait it out.
		if permanent(err) || etcderr.NoSpace(err) || ctx.Err() != nil || retry.Wait(ctx) != nil {
			r.abandon(ctx)
			if errors.Is(err, ErrLost) {
				err = fmt.Errorf("%w: %w", ErrLeaseLost, err)
			}
			if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
				return nil, fmt.Errorf("discovery: register %s: %w (last attempt: %w)", inst, ctx.Err(), err)
			}
			return nil, fmt.Errorf("discovery: register %s: %w", inst, err)
		}
		r.log.Debug("discovery: registration attempt failed, retrying", "key", r.key, "err", err)
	}
	if r.group == nil {
		r.wg.Add(1)
		go r.run()
	}
	return r, nil
}

// abandon undoes a Register that failed: the put may have landed even
// though it reported an error.
func (r *Registration) abandon(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	r.halt() // a deletion seen after a put may have started putting it back
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	r.closed = true
	r.detach()
	_ = r.deregister(ctx)
}

// detach stops tracking the key and leaves the lease group. Called once,
// with writeMu held, when no goroutine of the registration runs.
func (r *Registration) detach() {
	if r.detached {
		return
	}
	r.detached = true
	if r.reg != nil {
		r.reg.untrack(r)
		r.reg.leave()
	}
	if r.group != nil {
		r.group.leave(r)
	}
}

// Key is the etcd key of the registration: <namespace>/<service>/<id>.
func (r *Registration) Key() string { return r.key }

// Instance is what the registration writes: the instance given to Register
// with its ID filled in, as changed by Update and Drain since.
func (r *Registration) Instance() Instance {
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	return r.inst.clone()
}

// State is the registration's current state.
func (r *Registration) State() State { return r.states.get().State }

// Err is why the registration is lost or ended, or why the last
// re-registration attempt failed; nil while registered.
func (r *Registration) Err() error { return r.states.get().Err }

// Lease is the ID of the lease the key is attached to (or was, while
// lost).
func (r *Registration) Lease() clientv3.LeaseID { return r.states.get().Lease }

// States is the stream of the registration's state changes (Registered,
// Lost, Registered again, ..., Closed), for logs and metrics. The channel
// is made by the first call, starting with the current state; every call
// returns the same channel, so read it from one place. It is buffered: a
// reader more than 64 changes behind loses the oldest ones (State is always
// current). It is closed after Closed.
func (r *Registration) States() <-chan StateChange { return r.states.stream() }

// Update changes what is registered: fn gets a copy of the instance and
// may change anything but Service and ID, which name the key (Close and
// Register anew for those). The new value is written at once if the
// instance is registered; if it is lost at the moment, Update keeps the
// change and returns nil, and the registration writes it when it puts the
// key back. If the write fails (ErrRejected or ErrUnknownOutcome), the
// instance stays registered with its previous value, or the new one, until
// an Update succeeds or the key is put back. It returns ErrTakenOver if
// another process holds the key, and wraps ErrLost once the registration
// ended.
func (r *Registration) Update(ctx context.Context, fn func(*Instance)) error {
	if fn == nil {
		return fmt.Errorf("discovery: update %s: %w: nil function; pass one that changes the instance", r.key, ErrInvalidArgument)
	}
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	if r.closed {
		return fmt.Errorf("discovery: update %s: %w", r.key, ErrClosed)
	}
	next := r.inst.clone()
	fn(&next)
	if next.Service != r.inst.Service || next.ID != r.inst.ID {
		return fmt.Errorf("discovery: update %s: %w: Service or ID changed (%s/%s to %s/%s); they name the key: Close this registration and Register the new one",
			r.key, ErrInvalidInstance, r.inst.Service, r.inst.ID, next.Service, next.ID)
	}
	next, value, err := prepare(next)
	if err != nil {
		return fmt.Errorf("discovery: update %s: %w", r.key, err)
	}
	r.inst, r.value = next, value
	switch c := r.states.get(); c.State {
	case Ended:
		return fmt.Errorf("discovery: update %s: %w", r.key, c.Err)
	case Registered:
	default:
		return nil
	}
	if err := clientClosed(r.cli); err != nil {
		return fmt.Errorf("discovery: update %s: %w", r.key, err)
	}
	resp, err := r.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.LeaseValue(r.key), "=", r.leaseID)).
		Then(clientv3.OpPut(r.key, string(value), clientv3.WithLease(r.leaseID))).
		Else(clientv3.OpGet(r.key)).
		Commit()
	if err != nil {
		return fmt.Errorf("discovery: update %s: %w", r.key, etcderr.Outcome(err))
	}
	if !resp.Succeeded {
		if kvs := resp.Responses[0].GetResponseRange().GetKvs(); len(kvs) > 0 {
			return fmt.Errorf("discovery: update %s: %w: attached to lease %x, not this registration's %x; give every live instance its own ID",
				r.key, ErrTakenOver, kvs[0].Lease, int64(r.leaseID))
		}
		// The key is gone: the registry notices, and the new value is
		// written when the key is put back.
	}
	return nil
}

// Drain marks the instance draining, so that pickers and the gRPC
// resolver stop choosing it while in-flight work finishes, waits for
// grace, and then deregisters it as Close does. If ctx ends during the
// grace period, Drain returns ctx's error and the instance stays
// registered, draining; call Close.
func (r *Registration) Drain(ctx context.Context, grace time.Duration) error {
	if err := r.Update(ctx, func(i *Instance) { i.Draining = true }); err != nil {
		return err
	}
	if grace > 0 {
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return fmt.Errorf("discovery: drain %s: %w; it stays registered as draining until Close", r.key, ctx.Err())
		case <-t.C:
		}
	}
	return r.Close(ctx)
}

// Close deregisters the instance: it revokes the registration's own lease
// (which deletes the key), or, with WithLease, deletes the key if it is
// still attached to that lease, which it never revokes. Close is
// idempotent; if deregistering failed (etcd unreachable before ctx ended:
// ErrRejected or ErrUnknownOutcome), a later Close tries again, and
// otherwise the key disappears when its lease expires.
func (r *Registration) Close(ctx context.Context) error {
	r.halt()
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	r.detach()
	if r.closed && r.closeErr == nil {
		return nil
	}
	first := !r.closed
	r.closed = true
	err := r.deregister(ctx)
	if err != nil {
		err = fmt.Errorf("discovery: close %s: %w (the key expires with its lease)", r.key, err)
	}
	r.closeErr = err
	if first {
		r.states.set(StateChange{State: Closed, Err: err, Lease: r.leaseID, Time: time.Now()})
		r.log.Info("discovery: deregistered", "key", r.key, "err", err)
	}
	return err
}

// halt stops the registration's goroutines and waits for them.
func (r *Registration) halt() {
	r.sig.Lock()
	r.closing = true
	if r.cancelAttempt != nil {
		r.cancelAttempt()
	}
	r.sig.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
	r.wg.Wait()
}

// deregister removes the key: it revokes the own lease, or deletes the key
// if it is attached to the caller's lease. Called with writeMu held.
func (r *Registration) deregister(ctx context.Context) error {
	if r.group == nil && r.own == 0 || r.group != nil && r.leaseID == 0 {
		return nil // nothing was granted or put
	}
	if err := clientClosed(r.cli); err != nil {
		return err
	}
	if r.group != nil {
		_, err := r.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.LeaseValue(r.key), "=", r.leaseID)).
			Then(clientv3.OpDelete(r.key)).
			Commit()
		if err != nil {
			return etcderr.Outcome(err)
		}
		return nil
	}
	if _, err := r.cli.Revoke(ctx, r.own); err != nil && !leaseNotFound(err) {
		if r.ka != nil {
			go linger(r.cli, r.own, r.ka)
			r.ka = nil
		}
		return etcderr.Outcome(err)
	}
	return nil
}
