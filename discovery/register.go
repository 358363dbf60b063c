package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit/internal/backoff"
	"github.com/coordkit/coordkit/internal/etcderr"
	"github.com/coordkit/coordkit/lease"
)

// Registration is an instance registered in etcd and kept there by a
// supervisor until Close. It is safe for concurrent use.
type Registration struct {
	cli    *clientv3.Client
	key    string
	log    *slog.Logger
	states *states

	ctx    context.Context // the supervisor's lifetime; cancelled by Close
	cancel context.CancelFunc
	done   chan struct{} // closed when the supervisor returns

	// writeMu serialises every write of the key (registration, Update,
	// Close) and guards the fields below.
	writeMu   sync.Mutex
	inst      Instance
	value     []byte
	leases    leaseSource
	lease     *lease.Lease // the lease of the last successful put
	createRev int64        // the key's create revision after that put
	closed    bool
	closeErr  error
}

// Register writes inst under <namespace>/<service>/<id>, attached to a
// lease, and starts a supervisor that keeps it registered until Close.
//
// It returns once the key is in etcd. Failures a retry can fix (no leader,
// a member restarting, a timeout) are retried with backoff until ctx ends;
// invalid input, permission errors, a full database (an error wrapping
// ops.ErrNoSpace) and a closed client return at once. On
// error nothing is left registered (best effort, if etcd can be reached).
//
// The supervisor never gives up: whenever the registration is lost (the
// lease expired during a partition, etcd restarted, someone deleted the
// key) it grants a new lease if needed and puts the key back, with
// jittered backoff capped at a quarter of the TTL, so the instance is back
// within about a TTL of etcd being reachable again. The put is idempotent
// (same key, value and lease), so it is retried even when its outcome is
// unknown. State and States report what happens.
//
// Options: WithTTL or WithLease, WithNamespace, WithLogger.
func Register(ctx context.Context, cli *clientv3.Client, inst Instance, opts ...Option) (*Registration, error) {
	if cli == nil {
		return nil, fmt.Errorf("%w: nil etcd client", ErrInvalidOption)
	}
	o, err := buildOptions(forRegister, opts)
	if err != nil {
		return nil, err
	}
	inst, value, err := prepare(inst)
	if err != nil {
		return nil, err
	}
	r := &Registration{
		cli:    cli,
		key:    instanceKey(o.namespace, inst),
		log:    o.logger.With("service", inst.Service, "id", inst.ID),
		states: &states{ch: make(chan StateChange, stateBuffer), metrics: o.metrics},
		done:   make(chan struct{}),
		inst:   inst,
		value:  value,
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	if o.lease != nil {
		r.leases = &sharedLease{cli: cli, user: o.lease}
	} else {
		r.leases = &ownLease{cli: cli, life: r.ctx, t: o.ttl, opts: o.leaseOpts}
	}

	retry := backoff.New(r.policy())
	for {
		err := r.register(ctx)
		if err == nil {
			break
		}
		// A full database (NOSPACE) lasts until an operator acts: report it
		// rather than wait it out.
		if permanent(err) || etcderr.NoSpace(err) || ctx.Err() != nil || retry.Wait(ctx) != nil {
			r.abandon(ctx)
			if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
				err = fmt.Errorf("%w (last attempt: %v)", ctx.Err(), err)
			}
			return nil, fmt.Errorf("discovery: register %s: %w", inst, err)
		}
		r.log.Debug("discovery: registration attempt failed, retrying", "key", r.key, "err", err)
	}
	go r.supervise()
	return r, nil
}

// abandon undoes a Register that failed: the put may have landed even
// though it reported an error.
func (r *Registration) abandon(ctx context.Context) {
	r.cancel()
	close(r.done)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	r.closed = true
	_ = r.deregister(ctx)
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

// Err is why the registration is lost, or why the last re-registration
// attempt failed; nil while registered.
func (r *Registration) Err() error { return r.states.get().Err }

// Lease is the ID of the lease the key is attached to (or was, while
// lost).
func (r *Registration) Lease() clientv3.LeaseID { return r.states.get().Lease }

// States is the stream of the registration's state changes (Registered,
// Lost, Registered again, ..., Closed), for logs and metrics. The first
// change queued is the initial Registered. The channel is buffered; a
// reader more than 64 changes behind loses the oldest ones (State is always
// current). It is closed after Closed. Every call returns the same
// channel, so read it from one place.
func (r *Registration) States() <-chan StateChange { return r.states.ch }

// Update changes what is registered: fn gets a copy of the instance and
// may change anything but Service and ID, which name the key (Close and
// Register anew for those). The new value is written at once if the
// instance is registered; if it is lost at the moment, Update keeps the
// change and returns nil, and the supervisor writes it when it
// re-registers. If the write fails, the instance stays registered with its
// previous value until an Update succeeds or the supervisor re-registers.
// It returns ErrTakenOver if another process holds the key.
func (r *Registration) Update(ctx context.Context, fn func(*Instance)) error {
	if fn == nil {
		return fmt.Errorf("%w: Update(ctx, nil): pass a function that changes the instance", ErrInvalidOption)
	}
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	if r.closed {
		return fmt.Errorf("discovery: update %s: %w", r.inst, ErrClosed)
	}
	next := r.inst.clone()
	fn(&next)
	if next.Service != r.inst.Service || next.ID != r.inst.ID {
		return fmt.Errorf("%w: Update changed Service or ID (%s/%s to %s/%s); they name the key: Close this registration and Register the new one",
			ErrInvalidInstance, r.inst.Service, r.inst.ID, next.Service, next.ID)
	}
	next, value, err := prepare(next)
	if err != nil {
		return err
	}
	r.inst, r.value = next, value
	if r.states.get().State != Registered {
		return nil
	}
	if err := clientClosed(r.cli); err != nil {
		return fmt.Errorf("discovery: update %s: %w", next, err)
	}
	resp, err := r.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.LeaseValue(r.key), "=", r.lease.ID())).
		Then(clientv3.OpPut(r.key, string(value), clientv3.WithLease(r.lease.ID()))).
		Else(clientv3.OpGet(r.key)).
		Commit()
	if err != nil {
		return fmt.Errorf("discovery: update %s: %w", next, etcderr.WrapNoSpace(err))
	}
	if !resp.Succeeded {
		if kvs := resp.Responses[0].GetResponseRange().GetKvs(); len(kvs) > 0 {
			return fmt.Errorf("%w: %s is attached to lease %x, not this registration's %x; give every live instance its own ID",
				ErrTakenOver, r.key, kvs[0].Lease, int64(r.lease.ID()))
		}
		// The key is gone: the supervisor notices and writes the new value.
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

// Close stops the supervisor and deregisters the instance: it deletes the
// key (if this registration still holds it) and revokes the
// registration's own lease; a lease given with WithLease is left alone.
// Close is idempotent; if deregistering failed (etcd unreachable before ctx
// ended), a later Close tries again, and otherwise the key disappears when
// its lease expires.
func (r *Registration) Close(ctx context.Context) error {
	r.cancel()
	<-r.done
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	if r.closed && r.closeErr == nil {
		return nil
	}
	first := !r.closed
	r.closed = true
	err := r.deregister(ctx)
	if err != nil {
		err = fmt.Errorf("discovery: deregister %s: %w (the key expires with its lease)", r.key, err)
	}
	r.closeErr = err
	if first {
		c := StateChange{State: Closed, Err: err, Time: time.Now()}
		if r.lease != nil {
			c.Lease = r.lease.ID()
		}
		r.states.set(c)
		r.log.Info("discovery: deregistered", "key", r.key, "err", err)
	}
	return err
}

// deregister deletes the key if it is attached to a lease of this
// registration, then releases the leases. Called with writeMu held.
func (r *Registration) deregister(ctx context.Context) error {
	if err := clientClosed(r.cli); err != nil {
		return err
	}
	var errs []error
	seen := map[clientv3.LeaseID]bool{}
	for _, l := range []*lease.Lease{r.lease, r.leases.last()} {
		if l == nil || seen[l.ID()] {
			continue
		}
		seen[l.ID()] = true
		_, err := r.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.LeaseValue(r.key), "=", l.ID())).
			Then(clientv3.OpDelete(r.key)).
			Commit()
		if err != nil {
			errs = append(errs, err)
		}
	}
	if err := r.leases.release(ctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
