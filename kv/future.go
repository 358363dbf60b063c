package kv

import (
	"context"
	"fmt"
)

// Future is the result of a write queued with Batcher.PutAsync or
// DeleteAsync. It is safe for concurrent use; its result never changes once
// Done is closed.
type Future struct {
	op *batchOp
}

// failed is a future already answered with err (the write was not queued).
func failed(err error) *Future {
	op := &batchOp{done: make(chan struct{})}
	op.answer(batchResult{err: err})
	return &Future{op: op}
}

// Done is closed once the write's result is known.
func (f *Future) Done() <-chan struct{} { return f.op.done }

// Wait returns the revision of the txn that applied the write, or its error
// (those of Batcher.Put). If ctx ends first, Wait returns ctx's error and the
// write goes on: Wait may be called again.
func (f *Future) Wait(ctx context.Context) (rev int64, err error) {
	select {
	case <-f.op.done:
		return f.op.res.rev, f.op.res.err
	case <-ctx.Done():
		return 0, fmt.Errorf("kv: %s %q: still pending: %w", f.op.verb(), f.op.key, context.Cause(ctx))
	}
}

// Existed reports, once Done is closed, whether the key of a successful
// DeleteAsync existed; false before, for a put, or after an error.
func (f *Future) Existed() bool {
	select {
	case <-f.op.done:
		return f.op.res.deleted
	default:
		return false
	}
}
