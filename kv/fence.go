package kv

import (
	"context"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit/internal/errs"
	"github.com/coordkit/coordkit/internal/fenced"
)

// ErrNotHeld means a fenced write (a store from Store.Fenced) was refused
// because its Fence had ended: the lock was lost or released, or the term
// lost or resigned. Nothing was written. It is the same value as
// lock.ErrNotHeld and election.ErrNotHeld and also matches their
// ErrRejected (the shared "rejected, not applied" sentinel); the error
// wraps the fence's Err once that is known.
var ErrNotHeld = errs.NotHeld

// Fence is what a fenced write is conditioned on: a lock hold or a
// leadership term. *lock.Held and *election.Term implement it.
type Fence interface {
	// IsOwner is a txn condition that holds exactly while the fence does
	// (for a lock or term: its key still has its create revision).
	IsOwner() clientv3.Cmp
	// Err is nil while the fence holds, and says why once it has ended.
	Err() error
}

// Fenced returns a view of the store whose every write (Put, Swap, Create,
// Delete, CompareAndSwap, CompareAndDelete, Update, and a Batcher made from
// it) is applied only while f holds: etcd checks f.IsOwner in the same
// transaction, so a holder that lost its lock or term without noticing yet
// (a long GC pause, a slow network) cannot write. A refused write returns
// an error wrapping ErrNotHeld (and f.Err()); nothing was applied. Reads
// and watches are as in the store. Fenced(nil) returns the store itself.
//
// Each fenced write first asks f.Err() and is refused unsent if the fence
// is already known to have ended (for a lock.Held this starts its loss
// watch, as Held.Err does).
//
// Fencing costs one compare in the write's transaction (a plain Put or
// Delete becomes a one-operation txn); unfenced stores are unchanged.
func (s *Store[T]) Fenced(f Fence) *Store[T] {
	if f == nil {
		return s
	}
	c := *s
	c.fence = f
	return &c
}

// txn sends a write transaction of one compare, one Then and one Else
// operation, under the store's fence if it has one. held is false when the
// fence had ended (nothing applied); err is etcd's, unclassified.
func (s *Store[T]) txn(ctx context.Context, cmp clientv3.Cmp, then, els clientv3.Op) (resp *clientv3.TxnResponse, held bool, err error) {
	if s.fence == nil {
		resp, err = s.cli.Txn(requireLeader(ctx)).If(cmp).Then(then).Else(els).Commit()
		return resp, err == nil, err
	}
	if s.fence.Err() != nil {
		return nil, false, nil
	}
	return fenced.Send(requireLeader(ctx), s.cli, s.fence.IsOwner(), []clientv3.Cmp{cmp}, []clientv3.Op{then}, []clientv3.Op{els})
}

// fencedOp sends one operation under the store's fence (which it must
// have), returning the response or the write's classified error.
func (s *Store[T]) fencedOp(ctx context.Context, op, full string, o clientv3.Op) (*clientv3.TxnResponse, error) {
	if s.fence.Err() != nil {
		return nil, s.notHeld(op, full)
	}
	resp, held, err := fenced.Send(requireLeader(ctx), s.cli, s.fence.IsOwner(), nil, []clientv3.Op{o}, nil)
	if err != nil {
		return nil, writeErr(op, full, err)
	}
	if !held {
		return nil, s.notHeld(op, full)
	}
	return resp, nil
}

// notHeld is the error of a write refused because the store's fence ended.
func (s *Store[T]) notHeld(op, full string) error {
	if cause := s.fence.Err(); cause != nil {
		return fmt.Errorf("kv: %s %q: %w: %w", op, full, ErrNotHeld, cause)
	}
	return fmt.Errorf("kv: %s %q: %w: the fence's condition (IsOwner) failed in etcd", op, full, ErrNotHeld)
}
