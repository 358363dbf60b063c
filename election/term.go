package election

import (
	"context"
	"errors"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit/internal/etcderr"
	"github.com/coordkit/coordkit/internal/fenced"
	"github.com/coordkit/coordkit/internal/keyguard"
	"github.com/coordkit/coordkit/internal/waitqueue"
	"github.com/coordkit/coordkit/lease"
)

// Term is one candidate's leadership, from the moment Campaign elected it
// until it is lost or resigned. Its Context is the leadership signal (see
// the package doc): work done as leader should run under it. A Term is safe
// for concurrent use.
type Term struct {
	e     *Election
	c     *candidacy
	l     *lease.Lease
	key   string
	rev   int64
	ctx   context.Context
	end   context.CancelCauseFunc
	freed chan struct{} // closed once the guard (and a lost term's lease) is released
	own   fenced.Owner

	op       sync.Mutex // serialises Proclaim and Resign; guards resigned
	resigned bool
	mu       sync.Mutex // guards value
	value    string
}

// termKey marks a Term's Context, and every context derived from it.
type termKey struct{}

func newTerm(e *Election, c *candidacy, value string, guard context.Context, stopGuard context.CancelFunc) *Term {
	t := &Term{e: e, c: c, l: c.l, key: c.key, rev: c.rev, freed: make(chan struct{}), value: value}
	t.ctx, t.end = context.WithCancelCause(context.WithValue(guard, termKey{}, t))
	t.own = fenced.Owner{Cli: e.cli, Key: c.key, Rev: c.rev, Pkg: "election", Name: e.name, Ended: t.Err, Refused: t.refused}
	go t.release(stopGuard)
	return t
}

// resignContext returns the context for Resign's requests. Resigning under
// the term's own Context (or one derived from it), as a leader naturally
// does, would cancel the requests before they are sent; such a context is
// replaced by one that keeps its values and deadline but not its
// cancellation, bounded by releaseTimeout.
func (t *Term) resignContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if ctx.Value(termKey{}) != t {
		return ctx, func() {}
	}
	deadline := time.Now().Add(releaseTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	return context.WithDeadline(context.WithoutCancel(ctx), deadline)
}

// release waits for the term to end, stops the guard and, when the term
// was lost rather than resigned, gives back the lease the campaign granted.
func (t *Term) release(stopGuard context.CancelFunc) {
	defer close(t.freed)
	<-t.ctx.Done()
	stopGuard()
	if errors.Is(context.Cause(t.ctx), ErrReleased) {
		return // Resign releases the key and lease itself
	}
	if t.e.opts.shared {
		// Lost: the key is gone, or its lease is, so another Campaign of
		// this process on the lease need not wait for this one.
		waitqueue.Unclaim(t.l, t.key, t.c)
		return
	}
	rctx, cancel := context.WithTimeout(context.Background(), releaseTimeout)
	defer cancel()
	t.e.releaseLease(rctx, t.l)
}

// Token is the term's fencing token: the create revision of the leader key.
// Tokens strictly increase from term to term (see the package doc), so
// storage that remembers the largest Token it has seen can refuse a deposed
// leader's writes.
func (t *Term) Token() int64 { return t.rev }

// Key is the leader key, name + "/" + hex lease ID.
func (t *Term) Key() string { return t.key }

// Lease is the lease the leader key is attached to.
func (t *Term) Lease() *lease.Lease { return t.l }

// Value is the value the term was elected with, or last proclaimed.
func (t *Term) Value() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.value
}

// Context is cancelled when leadership ends: at Resign, or as soon as it
// may be gone, as the package doc describes. Err says which.
//
// A loss of the lease already known when Context, Done or Err is called
// (its Done closed, or its deadline passed) is reported by that call: the
// context returned is already cancelled.
func (t *Term) Context() context.Context { return keyguard.Check(t.ctx) }

// Done is closed when the term ends, for any reason; it is
// Context().Done().
func (t *Term) Done() <-chan struct{} { return t.Context().Done() }

// Err returns nil while the term leads. Afterwards it returns an error
// wrapping ErrReleased after Resign, or ErrLost and the cause (lease errors such
// as lease.ErrExpired and lease.ErrDeadlinePassed can be tested with
// errors.Is).
func (t *Term) Err() error {
	if t.Context().Err() == nil {
		return nil
	}
	cause := context.Cause(t.ctx)
	switch {
	case errors.Is(cause, ErrReleased), errors.Is(cause, ErrLost):
		return cause
	default:
		return errorf("term", t.e.name, "%w: %w", ErrLost, cause)
	}
}

// released is the cause a term ends with when its owner resigns.
func (t *Term) released() error {
	return errorf("term", t.e.name, "%w (Resign)", ErrReleased)
}

// IsOwner is a txn condition that holds exactly while this term leads:
// the leader key exists with this term's create revision (Token).
func (t *Term) IsOwner() clientv3.Cmp { return t.own.IsOwner() }

// Do applies ops in one transaction if, and only if, the term still leads
// (IsOwner). It is Txn(ctx).Then(ops...).Commit(); see Txn for its errors.
func (t *Term) Do(ctx context.Context, ops ...clientv3.Op) (*clientv3.TxnResponse, error) {
	return t.own.Do(ctx, "fenced txn", ops...)
}

// Txn starts a transaction fenced on the term: it is applied only while the
// term leads. Its If, Then and Else work as in clientv3.Txn, within the
// fence.
func (t *Term) Txn(ctx context.Context) *Txn { return t.own.Txn(ctx, "fenced txn") }

// Txn is a transaction fenced on a Term, made by Term.Txn. It is the same
// type as lock.Txn, whose doc gives Commit's errors: ErrNotHeld when the
// term has ended, else ErrRejected or ErrUnknownOutcome.
type Txn = fenced.Txn

// refused is told that etcd refused a fenced write: the leader key is gone
// or belongs to another term, so the term ends (if it has not already).
func (t *Term) refused() error {
	t.end(errorf("term", t.e.name, "%w: leader key %s (token %d) is gone", ErrLost, t.key, t.rev))
	return t.Err()
}

// Proclaim replaces the leader's value without a new election; observers
// see the change. It is a fenced write, with the errors of Txn: once the
// term is over, or if the leader key is gone or belongs to another term,
// nothing is written and the error wraps ErrNotHeld. A Proclaim whose
// outcome is unknown wraps ErrUnknownOutcome and is not retried.
func (t *Term) Proclaim(ctx context.Context, value string) error {
	if err := t.e.checkValue("proclaim", value); err != nil {
		return err
	}
	t.op.Lock()
	defer t.op.Unlock()
	if _, err := t.own.Do(ctx, "proclaim", clientv3.OpPut(t.key, value, clientv3.WithLease(t.l.ID()))); err != nil {
		return err
	}
	t.mu.Lock()
	t.value = value
	t.mu.Unlock()
	return nil
}

// Resign ends the term and lets the next candidate lead at once.
//
// It first cancels the term's Context (if leadership was not already
// lost), so the leader stops before anyone else can start, then deletes the
// leader key, fenced on the term's revision so it never deletes a later
// term's key, and finally revokes the lease the campaign granted (a lease
// given with WithLease is left alone).
//
// Resign is idempotent, and also the way to release a lost term's
// resources. It may be called with the term's own Context: cancelling that
// does not cancel Resign, which then takes at most a couple of seconds. If
// it fails (for example ctx ends while etcd is unreachable) the term keeps
// its state and Resign can be called again; meanwhile the key expires with
// its lease (a granted lease is no longer kept alive).
func (t *Term) Resign(ctx context.Context) error {
	t.op.Lock()
	defer t.op.Unlock()
	if t.resigned {
		return nil
	}
	ctx, cancel := t.resignContext(ctx)
	defer cancel()
	t.end(t.released()) // no-op if already lost: Err keeps the loss
	select {
	case <-t.freed:
	case <-ctx.Done():
		return errorf("resign", t.e.name, "%w", context.Cause(ctx))
	}
	err := t.e.clientClosed()
	if err == nil {
		_, err = t.e.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.CreateRevision(t.key), "=", t.rev)).
			Then(clientv3.OpDelete(t.key)).
			Commit()
	}
	if err != nil {
		if !t.e.opts.shared {
			t.l.Close() // let the key expire if Resign is never retried
		}
		return errorf("resign", t.e.name, "term %d (key %s): %w; leadership is given up, the key expires with its lease, or call Resign again",
			t.rev, t.key, etcderr.Outcome(err))
	}
	if t.e.opts.shared {
		waitqueue.Unclaim(t.l, t.key, t.c)
	} else {
		t.e.releaseLease(ctx, t.l)
	}
	t.resigned = true
	return nil
}
