package lock

import (
	"context"
	"errors"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit/internal/etcderr"
	"github.com/coordkit/coordkit/internal/fenced"
	"github.com/coordkit/coordkit/internal/keyguard"
	"github.com/coordkit/coordkit/lease"
)

// Held is one acquisition of a lock: proof of ownership that knows when it
// stops being true, with the guarantees listed in the package doc (fencing
// tokens and writes, loss signals, fenced release). The hold ends at
// Unlock, or is lost; Context and Done report either, Err says which. Its
// methods are safe for concurrent use.
type Held struct {
	s     *session
	key   string
	rev   int64
	lease *lease.Lease
	free  func() // lets the handle acquire again; may be nil
	own   fenced.Owner

	mu        sync.Mutex
	freed     bool
	releasing bool // Unlock was called: the hold is over for its user
	released  bool // Unlock succeeded: the key is gone
	lostFirst bool // the hold was lost before Unlock was called
	ctx       context.Context
	end       context.CancelCauseFunc // ends ctx's parent
	stopGuard context.CancelFunc
	since     time.Time // when acquired; set when measured
}

func newHeld(s *session, l *lease.Lease, key string, rev int64) *Held {
	h := &Held{s: s, key: key, rev: rev, lease: l}
	h.own = fenced.Owner{Cli: s.cli, Key: key, Rev: rev, Pkg: "lock", Name: s.name, Ended: h.ended, Refused: h.refused}
	if s.o.metrics != nil {
		h.since = time.Now()
	}
	return h
}

// Token is the fencing token: the lock key's create revision, strictly
// increasing across holders (see the package doc), so a resource outside
// etcd can refuse a request carrying a token lower than one it has already
// seen.
func (h *Held) Token() int64 { return h.rev }

// Key is the lock key, as `etcdctl lock` prints it.
func (h *Held) Key() string { return h.key }

// Lease is the lease the lock key is attached to.
func (h *Held) Lease() *lease.Lease { return h.lease }

// IsOwner is a txn condition that holds exactly while this hold is
// current: the lock key exists with this hold's create revision.
func (h *Held) IsOwner() clientv3.Cmp { return h.own.IsOwner() }

// Context returns a context cancelled as soon as the hold ends: at Unlock,
// or at a loss as the package doc's "Honest loss signals" describes.
// context.Cause and Err say why.
//
// The watch behind it starts at the first call of Context, Done or Err and
// replays everything since the acquisition, so calling it late misses
// nothing; until then a hold costs no watch. A loss of the lease already
// known when Context, Done or Err is called (its Done closed, or its
// deadline passed) is reported by that call: the context returned is
// already cancelled.
func (h *Held) Context() context.Context {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ctx == nil {
		parent, end := context.WithCancelCause(context.Background())
		h.end = end
		if h.releasing {
			end(ErrReleased)
			h.ctx = parent
			return h.ctx
		}
		h.ctx, h.stopGuard = keyguard.Guard(parent, h.s.cli, h.key, h.rev, h.lease)
		if m := h.s.o.metrics; m != nil {
			m.watch(h, h.ctx)
		}
	}
	return keyguard.Check(h.ctx)
}

// Done is closed when the hold ends, for any reason; it is
// Context().Done().
func (h *Held) Done() <-chan struct{} { return h.Context().Done() }

// Err returns nil while the hold lasts, an error wrapping ErrReleased
// after Unlock, and an error wrapping ErrLost once it is lost; that error also wraps
// ErrKeyDeleted or the lease package's reason (lease.ErrExpired,
// lease.ErrRevoked, lease.ErrDeadlinePassed, lease.ErrClosed).
func (h *Held) Err() error {
	ctx := h.Context()
	if ctx.Err() == nil {
		return nil
	}
	cause := context.Cause(ctx)
	switch {
	case errors.Is(cause, ErrReleased):
		return errorf("hold", h.s.name, "%w (Unlock)", ErrReleased)
	default:
		return errorf("hold", h.s.name, "%w: %w", ErrLost, cause)
	}
}

// Unlock releases the hold: it deletes the lock key only if it is still
// this hold's (same create revision), so a late or repeated Unlock never
// deletes a newer holder's key. It is idempotent and safe to retry; after a
// loss it returns nil. If it fails, the key may remain: retry it, or the
// handle deletes the key at its next acquisition or Close.
//
// The hold ends for its user when Unlock is called, before the key is
// deleted: Context is cancelled with ErrReleased and fenced writes are
// refused from then on, even if deleting the key fails.
func (h *Held) Unlock(ctx context.Context) error {
	h.mu.Lock()
	if h.released {
		h.mu.Unlock()
		return nil
	}
	if !h.releasing {
		// End the hold before its key goes, as election's Resign does, so
		// that the hold's own watch seeing the deletion cannot pass for a
		// loss. A loss that came first keeps its cause.
		h.releasing = true
		h.lostFirst = h.ctx != nil && keyguard.Check(h.ctx).Err() != nil
		if h.end != nil {
			h.end(ErrReleased)
			h.stopGuard()
		}
	}
	h.mu.Unlock()
	err := h.s.remove(ctx, fence{l: h.lease, key: h.key, rev: h.rev})
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.freed && h.free != nil {
		h.freed = true
		h.free()
	}
	if err != nil {
		return errorf("unlock", h.s.name, "key %s: %w; the key may still be held: retry Unlock, or the handle deletes it at its next acquisition or Close", h.key, etcderr.Outcome(err))
	}
	if !h.released {
		h.released = true
		if m := h.s.o.metrics; m != nil && !h.lostFirst {
			m.hold.Observe(time.Since(h.since).Seconds())
		}
	}
	return nil
}

// Do applies ops in one transaction if, and only if, the hold is still
// current (IsOwner). It is Txn(ctx).Then(ops...).Commit(); see Txn.Commit
// for its errors.
func (h *Held) Do(ctx context.Context, ops ...clientv3.Op) (*clientv3.TxnResponse, error) {
	return h.own.Do(ctx, "fenced txn", ops...)
}

// Txn starts a transaction fenced on the hold: it is applied only while the
// hold is current. Its If, Then and Else work as in clientv3.Txn, within
// the fence.
func (h *Held) Txn(ctx context.Context) *Txn { return h.own.Txn(ctx, "fenced txn") }

// Txn is a transaction fenced on a lock.Held or an election.Term (the same
// type in both packages), made by their Txn methods. Its If, Then and Else
// work as in clientv3.Txn, within the fence.
//
// Commit sends it once and returns the response of its If/Then/Else part.
// If the hold or term is over, nothing is applied and the error wraps
// ErrNotHeld (which also matches ErrRejected) and the cause Err gives.
// Any other failure wraps ErrRejected (not applied: etcd refused it, or it
// was not sent because ctx had ended or the client was closed) or
// ErrUnknownOutcome (it may have been applied; it is never re-sent: read to
// find out).
type Txn = fenced.Txn

// ended is the fence's check before sending: the hold is over for its user
// once Unlock was called, or once its guard (if started) saw it end.
func (h *Held) ended() error {
	h.mu.Lock()
	over := h.releasing || (h.ctx != nil && keyguard.Check(h.ctx).Err() != nil)
	h.mu.Unlock()
	if !over {
		return nil
	}
	h.countRefused()
	return h.Err()
}

// countRefused measures a fenced write refused because the hold was over.
func (h *Held) countRefused() {
	if m := h.s.o.metrics; m != nil {
		m.refused.Add(1)
	}
}

// refused is told that etcd refused a fenced write: it returns the hold's
// Err if its end is known.
func (h *Held) refused() error {
	h.countRefused()
	h.mu.Lock()
	started := h.ctx != nil
	h.mu.Unlock()
	if !started {
		return nil // no guard to ask; do not start one just for this
	}
	return h.Err()
}
