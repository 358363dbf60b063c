package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit/internal/backoff"
	"github.com/coordkit/coordkit/internal/etcderr"
	"github.com/coordkit/coordkit/internal/keyguard"
	"github.com/coordkit/coordkit/lease"
)

// run is the goroutine of a registration with a lease of its own: it reads
// the lease's renewals, and puts the key back whenever it is lost, until
// Close.
func (r *Registration) run() {
	defer r.wg.Done()
	timer := time.NewTimer(time.Until(r.deadline))
	defer timer.Stop()
	for {
		cause := r.awaitLoss(timer)
		if cause == nil || !r.recover(cause, timer) {
			return
		}
		timer.Reset(time.Until(r.deadline))
	}
}

// awaitLoss blocks while the registration holds, and returns why it was
// lost, or nil on Close.
func (r *Registration) awaitLoss(timer *time.Timer) error {
	for {
		select {
		case resp, ok := <-r.ka:
			if !ok {
				r.ka = nil
				if err := r.keepAgain(); err != nil {
					return err
				}
				continue
			}
			r.renewed(resp)
			timer.Reset(time.Until(r.deadline))
		case <-timer.C:
			if time.Now().Before(r.deadline) {
				timer.Reset(time.Until(r.deadline))
				continue
			}
			return fmt.Errorf("lease %x: %w: no renewal confirmed since the deadline %s", int64(r.own), lease.ErrDeadlinePassed, r.deadline.Format(time.RFC3339Nano))
		case <-r.wake:
			if r.stopping() {
				return nil
			}
			if cause := r.takePending(); cause != nil {
				return cause
			}
		}
	}
}

// renewed records a renewal of the own lease. The deadline is counted from
// the answer before it, no later than when this renewal was sent.
func (r *Registration) renewed(resp *clientv3.LeaseKeepAliveResponse) {
	now := time.Now()
	if d := r.renewedAt.Add(time.Duration(resp.TTL) * time.Second); d.After(r.deadline) {
		r.deadline = d
	}
	r.renewedAt = now
}

// keepAgain is called when etcd's client stopped renewing the own lease:
// etcd said it expired, or no answer came in time (the first one within
// the client's DialTimeout + 1 s, a slow but live server included). If the
// lease may still live, etcd is asked; a live lease is kept alive again,
// otherwise keepAgain says why it is lost.
func (r *Registration) keepAgain() error {
	id := int64(r.own)
	if etcderr.ClientClosed(r.cli) != nil {
		return fmt.Errorf("lease %x: %w: %w", id, lease.ErrClientStopped, clientClosed(r.cli))
	}
	if !time.Now().Before(r.deadline) {
		return fmt.Errorf("lease %x: %w: no renewal confirmed since the deadline %s", id, lease.ErrDeadlinePassed, r.deadline.Format(time.RFC3339Nano))
	}
	actx, cancel := r.attemptContext()
	if actx == nil {
		return nil // closing: the caller sees the wake-up next
	}
	defer cancel()
	ctx, stop := context.WithDeadline(actx, r.deadline)
	defer stop()
	sent := time.Now()
	resp, err := r.cli.TimeToLive(ctx, r.own)
	switch {
	case err != nil && r.stopping():
		return nil
	case err != nil:
		return fmt.Errorf("lease %x: %w: its keep-alive got no answer and asking etcd failed: %w", id, lease.ErrDeadlinePassed, err)
	case resp.TTL <= 0:
		return fmt.Errorf("lease %x: %w", id, lease.ErrExpired)
	}
	ka, err := r.cli.KeepAlive(context.Background(), r.own)
	if err != nil {
		return fmt.Errorf("lease %x: keep it alive again: %w", id, err)
	}
	r.ka = ka
	if d := sent.Add(time.Duration(resp.TTL) * time.Second); d.After(r.deadline) {
		r.deadline = d
	}
	r.renewedAt = time.Now()
	return nil
}

// recover reports the loss and puts the key back, with backoff, until it
// is back (true), or the registration is closed or ended, or its client
// closed (false).
func (r *Registration) recover(cause error, timer *time.Timer) bool {
	r.lost(cause)
	retry := backoff.New(r.policy())
	for {
		if !r.pause(retry.Next(), timer) {
			return false
		}
		ctx, cancel := r.attemptContext()
		if ctx == nil {
			return false
		}
		err := r.register(ctx)
		cancel()
		if err == nil {
			return true
		}
		if r.stopping() || errors.Is(err, ErrLost) {
			return false
		}
		if errors.Is(err, ErrClientClosed) {
			r.lost(err)
			return false // nothing can bring it back; Close still works
		}
		r.retrying(err)
	}
}

// pause waits d before the next attempt, reading the own lease's renewals
// meanwhile. It returns false on Close.
func (r *Registration) pause(d time.Duration, timer *time.Timer) bool {
	if timer == nil {
		timer = time.NewTimer(d)
		defer timer.Stop()
	} else {
		timer.Reset(d)
	}
	for {
		select {
		case resp, ok := <-r.ka:
			if !ok {
				r.ka = nil
				continue
			}
			r.renewed(resp)
		case <-r.wake:
			if r.stopping() {
				return false
			}
			r.takePending() // being put back already
		case <-timer.C:
			return true
		}
	}
}

// attemptContext is the context of one attempt to put the key back,
// cancelled by Close, and bounded so that a request stuck on a dead
// connection is abandoned and retried; nil after Close.
func (r *Registration) attemptContext() (context.Context, context.CancelFunc) {
	r.sig.Lock()
	defer r.sig.Unlock()
	if r.closing || r.ended {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.attemptTimeout())
	r.cancelAttempt = cancel
	return ctx, func() {
		r.sig.Lock()
		r.cancelAttempt = nil
		r.sig.Unlock()
		cancel()
	}
}

// stopping reports whether the registration is closing or ended.
func (r *Registration) stopping() bool {
	r.sig.Lock()
	defer r.sig.Unlock()
	return r.closing || r.ended
}

// keyGone is the registry telling that the key was deleted at revision
// rev. It never blocks: the registry's lock is held.
func (r *Registration) keyGone(cause error, rev int64) {
	r.sig.Lock()
	if r.closing || r.ended {
		r.sig.Unlock()
		return
	}
	if rev > r.pendingRev {
		r.pending, r.pendingRev = cause, rev
	}
	spawn := r.group != nil && !r.recovering
	if spawn {
		r.recovering = true
		r.wg.Add(1)
	}
	r.sig.Unlock()
	if spawn {
		go r.recoverShared()
		return
	}
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// takePending returns the loss signalled last, unless the key was put
// again since.
func (r *Registration) takePending() error {
	r.sig.Lock()
	defer r.sig.Unlock()
	cause := r.pending
	r.pending = nil
	if cause == nil || r.pendingRev <= r.putRev.Load() {
		return nil
	}
	return cause
}

// recoverShared puts back the key of a registration on a caller's lease,
// deleted while the lease lives.
func (r *Registration) recoverShared() {
	defer r.wg.Done()
	for {
		if cause := r.takePending(); cause != nil {
			if !r.recover(cause, nil) {
				r.sig.Lock()
				r.recovering = false
				r.sig.Unlock()
				return
			}
			continue
		}
		r.sig.Lock()
		if r.pending == nil || r.closing || r.ended {
			r.recovering = false
			r.sig.Unlock()
			return
		}
		r.sig.Unlock()
	}
}

// end is the lease group telling that the caller's lease was lost: the
// registration ends for good.
func (r *Registration) end(cause error) {
	err := r.stateErr(fmt.Errorf("%w: %w", ErrLost, cause)) // cause names the lease
	r.sig.Lock()
	if r.closing || r.ended {
		r.sig.Unlock()
		return
	}
	r.ended = true
	if r.cancelAttempt != nil {
		r.cancelAttempt()
	}
	r.states.set(StateChange{State: Ended, Err: err, Lease: r.group.l.ID(), Time: time.Now()})
	r.sig.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
	r.log.Warn("discovery: registration ended: its lease was lost; register again on a new lease", "key", r.key, "err", err)
}

// stateErr is err as Err and States report it: in the package's message
// shape, `discovery: registration <key>: ...`, as lock.Held.Err and
// election.Term.Err are.
func (r *Registration) stateErr(err error) error {
	if err == nil || strings.HasPrefix(err.Error(), "discovery: ") {
		return err
	}
	return fmt.Errorf("discovery: registration %s: %w", r.key, err)
}

// setState records c unless the registration ended (or closed: states
// ignores everything after Closed).
func (r *Registration) setState(c StateChange) bool {
	c.Err = r.stateErr(c.Err)
	r.sig.Lock()
	defer r.sig.Unlock()
	if r.ended {
		return false
	}
	r.states.set(c)
	return true
}

// policy paces re-registration: quick first retries, capped at a quarter
// of the TTL (and 2 s) so an instance is back within a TTL of etcd being
// reachable again.
func (r *Registration) policy() backoff.Policy {
	return backoff.Policy{Initial: 20 * time.Millisecond, Max: min(max(r.leaseTTL()/4, 100*time.Millisecond), 2*time.Second)}
}

func (r *Registration) leaseTTL() time.Duration {
	if r.group != nil {
		return r.group.l.TTL()
	}
	return r.ttl
}

// attemptTimeout bounds one attempt to put the key back.
func (r *Registration) attemptTimeout() time.Duration {
	return max(r.leaseTTL(), 2*time.Second)
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
	id, err := r.liveLease(ctx)
	if err != nil {
		return err
	}
	resp, err := r.cli.Put(ctx, r.key, string(r.value), clientv3.WithLease(id))
	if err != nil {
		if leaseNotFound(err) && r.group == nil {
			r.ka = nil // etcd's client gives it up when it hears the same
		}
		return fmt.Errorf("put %s with lease %x: %w", r.key, int64(id), etcderr.Outcome(err))
	}
	// A lease granted over a connection that was slow to come back can be
	// past its deadline on arrival: one that cannot be trusted to live
	// does not make the instance registered.
	if err := r.leaseLoss(); err != nil {
		return fmt.Errorf("put %s: %w", r.key, err)
	}
	if r.reg == nil {
		r.reg = joinRegistry(r.cli, r.prefix, resp.Header.Revision, r.log)
	}
	if r.reg.track(r, resp.Header.Revision) {
		// The registry may have gone past a deletion before it tracked
		// the key: read it back.
		got, err := r.cli.Get(ctx, r.key)
		if err != nil {
			return fmt.Errorf("read %s back: %w", r.key, err)
		}
		if len(got.Kvs) == 0 || got.Kvs[0].CreateRevision > resp.Header.Revision {
			return fmt.Errorf("%w: right after the put at revision %d", ErrKeyDeleted, resp.Header.Revision)
		}
	}
	r.leaseID = id
	again := r.states.get().State == Lost
	if !r.setState(StateChange{State: Registered, Lease: id, Revision: resp.Header.Revision, Time: time.Now()}) {
		return r.states.get().Err
	}
	if again {
		r.log.Info("discovery: registered again", "key", r.key, "lease", hexID(id), "revision", resp.Header.Revision)
	} else {
		r.log.Info("discovery: registered", "key", r.key, "lease", hexID(id), "revision", resp.Header.Revision)
	}
	return nil
}

// liveLease returns the lease to put the key with: the caller's, or the
// registration's own, granted if there is none.
func (r *Registration) liveLease(ctx context.Context) (clientv3.LeaseID, error) {
	if r.group != nil {
		if err := keyguard.LeaseLoss(r.group.l); err != nil {
			return 0, fmt.Errorf("%w: lease %x: %w", ErrLost, int64(r.group.l.ID()), err)
		}
		return r.group.l.ID(), nil
	}
	if r.ka != nil {
		if err := r.leaseLoss(); err != nil {
			return 0, fmt.Errorf("%w; waiting for etcd's client to confirm the lease or give it up", err)
		}
		return r.own, nil
	}
	sent := time.Now()
	g, err := r.cli.Grant(ctx, int64(math.Ceil(r.ttl.Seconds())))
	if err != nil {
		return 0, fmt.Errorf("grant lease: %w", etcderr.Outcome(err))
	}
	ka, err := r.cli.KeepAlive(context.Background(), g.ID)
	if err != nil {
		if cerr := clientClosed(r.cli); cerr != nil {
			err = cerr
		}
		return 0, fmt.Errorf("keep lease %x alive: %w", int64(g.ID), err)
	}
	r.own, r.ka = g.ID, ka
	r.deadline, r.renewedAt = sent.Add(time.Duration(g.TTL)*time.Second), time.Now()
	return g.ID, nil
}

// leaseLoss says why the lease cannot carry the registration now, or nil.
func (r *Registration) leaseLoss() error {
	if r.group != nil {
		return keyguard.LeaseLoss(r.group.l)
	}
	if r.ka == nil {
		return fmt.Errorf("lease %x: %w", int64(r.own), lease.ErrExpired)
	}
	if !time.Now().Before(r.deadline) {
		return fmt.Errorf("lease %x: %w: no renewal confirmed since the deadline %s", int64(r.own), lease.ErrDeadlinePassed, r.deadline.Format(time.RFC3339Nano))
	}
	return nil
}

func (r *Registration) lost(cause error) {
	c := r.states.get()
	if !r.setState(StateChange{State: Lost, Err: cause, Lease: c.Lease, Time: time.Now()}) {
		return
	}
	r.log.Warn("discovery: registration lost, re-registering", "key", r.key, "lease", hexID(c.Lease), "err", cause)
}

// retrying records why the last re-registration attempt failed, readable
// through Err, without queueing a state change per attempt.
func (r *Registration) retrying(err error) {
	r.states.mu.Lock()
	if r.states.cur.State == Lost {
		r.states.cur.Err = err
	}
	r.states.mu.Unlock()
	r.log.Debug("discovery: re-registration attempt failed", "key", r.key, "err", err)
}

// linger reads the renewals of an own lease whose revoke failed, revoking
// it again at each sign that it lives, until etcd's client gives it up:
// a closed registration never keeps a lease alive.
func linger(cli *clientv3.Client, id clientv3.LeaseID, ka <-chan *clientv3.LeaseKeepAliveResponse) {
	revoked := false
	for range ka {
		if revoked {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := cli.Revoke(ctx, id)
		cancel()
		revoked = err == nil || leaseNotFound(err)
	}
}

func leaseNotFound(err error) bool { return errors.Is(err, rpctypes.ErrLeaseNotFound) }

// clientClosed returns an error wrapping ErrClientClosed and ErrRejected
// (nothing was sent) if cli is closed, else nil. Checked right before a
// write.
func clientClosed(cli *clientv3.Client) error {
	if err := etcderr.ClientClosed(cli); err != nil {
		return fmt.Errorf("%w: %w", ErrClientClosed, etcderr.Outcome(err))
	}
	return nil
}

// permanent reports errors no retry can fix.
func permanent(err error) bool {
	if errors.Is(err, ErrClientClosed) || errors.Is(err, ErrClosed) || errors.Is(err, ErrLost) {
		return true
	}
	return etcderr.Permanent(err)
}

// hexID formats a lease ID for logs only when a record is written.
type hexID clientv3.LeaseID

func (id hexID) LogValue() slog.Value { return slog.StringValue(fmt.Sprintf("%x", int64(id))) }
