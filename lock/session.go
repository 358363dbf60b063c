package lock

import (
	"context"
	"errors"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit/internal/waitqueue"
	"github.com/coordkit/coordkit/lease"
)

// cleanupTimeout bounds a deletion made on the caller's behalf after its
// context ended (a cancelled Lock removing its waiter key).
const cleanupTimeout = 5 * time.Second

// session is what every lock handle has: the lease its keys are attached
// to, and the deletions that failed and are still owed.
type session struct {
	cli  *clientv3.Client
	name string
	o    *options

	granting chan struct{} // held while granting own

	mu      sync.Mutex
	own     *lease.Lease // granted by this handle; nil before the first acquisition
	closed  bool
	tidy    bool // close finished its revoke or deletions; a failed close is retried
	pending map[fence]struct{}
}

// A fence names one incarnation of a key on lease l: the one created at
// rev, or, when the creating request's outcome is unknown, the one holding
// nonce.
type fence struct {
	l     *lease.Lease
	key   string
	rev   int64
	nonce string
}

func (f fence) cmp() clientv3.Cmp {
	if f.rev != 0 {
		return clientv3.Compare(clientv3.CreateRevision(f.key), "=", f.rev)
	}
	return clientv3.Compare(clientv3.Value(f.key), "=", f.nonce)
}

func newSession(cli *clientv3.Client, name string, o *options) *session {
	s := &session{cli: cli, name: name, o: o}
	if !o.shared { // a shared lease is never granted here
		s.granting = make(chan struct{}, 1)
	}
	return s
}

// closedErr returns an error wrapping ErrClosed once the handle is closed.
func (s *session) closedErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errorf("acquire", s.name, "%w; make a new handle", ErrClosed)
	}
	return nil
}

// lease returns a live lease for a new acquisition: the shared one, or the
// handle's own, granted now if there is none or the last one was lost.
func (s *session) lease(ctx context.Context) (*lease.Lease, error) {
	if l, ok, err := s.current(); ok || err != nil {
		return l, err
	}
	// One grant at a time, without holding mu, so that Close is never
	// stuck behind a grant waiting for an unreachable cluster.
	select {
	case s.granting <- struct{}{}:
		defer func() { <-s.granting }()
	case <-ctx.Done():
		return nil, errorf("acquire", s.name, "%w", context.Cause(ctx))
	}
	if l, ok, err := s.current(); ok || err != nil {
		return l, err // granted by another caller meanwhile
	}
	l, err := lease.Grant(ctx, s.cli, s.o.ttl, append(s.o.leaseOpts, lease.WithLogger(s.o.log))...)
	if err != nil {
		return nil, errorf("acquire", s.name, "granting a lease: %w", err)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		_ = l.Revoke(rctx)
		return nil, errorf("acquire", s.name, "%w; make a new handle", ErrClosed)
	}
	s.own = l
	s.mu.Unlock()
	l.KeepAlive(context.Background())
	return l, nil
}

// current returns the lease to use if there is a live one (ok), or an
// error if there can be none.
func (s *session) current() (*lease.Lease, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, false, errorf("acquire", s.name, "%w; make a new handle", ErrClosed)
	}
	if s.o.shared {
		l := s.o.lease
		if err := l.Err(); err != nil {
			return nil, false, errorf("acquire", s.name, "%w: the shared lease %x is gone (%w); grant a new lease and make a new handle", ErrLeaseLost, int64(l.ID()), err)
		}
		l.KeepAlive(context.Background()) // a no-op if already running
		return l, true, nil
	}
	if s.own != nil && s.own.Err() == nil {
		return s.own, true, nil
	}
	return nil, false, nil
}

// leaseGone is told that etcd no longer has l, so the next acquisition
// grants a fresh lease rather than waiting for the keep-alive to notice.
func (s *session) leaseGone(l *lease.Lease) {
	if !s.o.shared {
		l.Close()
	}
}

// remove deletes the key incarnation f names, if it still exists. If the
// outcome is unknown, the deletion is owed: the next acquisition or Close
// retries it.
func (s *session) remove(ctx context.Context, f fence) error {
	_, err := s.cli.Txn(ctx).If(f.cmp()).Then(clientv3.OpDelete(f.key)).Commit()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.oweLocked(f)
		s.o.log.Warn("lock: could not delete key; will retry at the next acquisition or Close",
			"lock", s.name, "key", f.key, "error", err)
		return err
	}
	delete(s.pending, f)
	s.unclaim(f)
	return nil
}

// owe records a key that may exist and must be deleted.
func (s *session) owe(f fence) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.oweLocked(f)
}

// oweLocked is owe with mu held. The map is made at the first debt: most
// handles never owe anything.
func (s *session) oweLocked(f fence) {
	if s.pending == nil {
		s.pending = map[fence]struct{}{}
	}
	s.pending[f] = struct{}{}
}

// owes says whether f's deletion is owed.
func (s *session) owes(f fence) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.pending[f]
	return ok
}

// claim, unclaim and claimedByOthers keep waitqueue's claims for the
// fixed keys (a Mutex's) of a shared lease; an acquisition is identified by
// its key's fence (claimID).
func (s *session) claim(f, was fence) { waitqueue.Claim(f.l, f.key, f.claimID(), was.claimID()) }

func (s *session) claimedByOthers(f fence) bool {
	return waitqueue.ClaimedByOthers(f.l, f.key, f.claimID())
}

func (s *session) unclaim(f fence) {
	if s.o.shared && f.l != nil {
		waitqueue.Unclaim(f.l, f.key, f.claimID())
	}
}

// claimID identifies f's acquisition among the claims on its key: the
// create revision once known, the nonce before.
func (f fence) claimID() any {
	if f.rev != 0 {
		return f.rev
	}
	if f.nonce != "" {
		return f.nonce
	}
	return nil
}

// flush retries the owed deletions.
func (s *session) flush(ctx context.Context) error {
	s.mu.Lock()
	owed := make([]fence, 0, len(s.pending))
	for f := range s.pending {
		owed = append(owed, f)
	}
	s.mu.Unlock()
	for _, f := range owed {
		if err := s.remove(ctx, f); err != nil {
			return errorf("cleanup", s.name, "deleting %s, left behind by an earlier failed Unlock or Lock: %w", f.key, err)
		}
	}
	return nil
}

// close revokes the handle's own lease (deleting every key on it) or, with
// a shared lease, retries owed deletions. Later acquisitions fail with
// ErrClosed. A close that failed (etcd unreachable) does its work again
// when called again; once it succeeded, further calls do nothing.
func (s *session) close(ctx context.Context) error {
	s.mu.Lock()
	if s.tidy {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	own := s.own
	s.mu.Unlock()
	if s.o.shared {
		if err := s.flush(ctx); err != nil {
			return err
		}
	} else if own != nil {
		if err := own.Revoke(ctx); err != nil {
			return errorf("close", s.name, "%w (its keep-alive has stopped; etcd expires it within %v; Close again to retry)", err, own.TTL())
		}
	}
	s.mu.Lock()
	s.tidy = true
	clear(s.pending) // every owed key was deleted, or on a lease now gone
	s.mu.Unlock()
	return nil
}

// leaseLost explains why an acquisition failed when l ended.
func leaseLost(name string, l *lease.Lease) error {
	cause := l.Err()
	if cause == nil {
		cause = errors.New("lease deadline passed")
	}
	return errorf("acquire", name, "%w: %w", ErrLeaseLost, cause)
}
