// Package keyguard turns "I own this key" into a context: the context is
// cancelled as soon as ownership may be gone. lock and election use it to
// tell holders and leaders when they must stop.
package keyguard

import (
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit/internal/backoff"
	"github.com/coordkit/coordkit/internal/errs"
	"github.com/coordkit/coordkit/internal/etcderr"
	"github.com/coordkit/coordkit/internal/watchresume"
	"github.com/coordkit/coordkit/lease"
)

// ErrKeyGone is the cause of a guard's cancellation when the owned key was
// deleted, or replaced by a key with another create revision: the shared
// errs.KeyDeleted that lock and election export as ErrKeyDeleted.
var ErrKeyGone = errs.KeyDeleted

// Guard returns a context derived from parent that is cancelled, with a
// cause readable by context.Cause, as soon as any of these happens:
//
//   - key is deleted or re-created (its create revision differs from
//     createRev): cause wraps ErrKeyGone;
//   - l is lost (expired, revoked, keep-alive deadline passed, closed):
//     cause is l.Err(), wrapping the lease package's errors; l's deadline
//     passing ends the guard even if no KeepAlive loop runs on l (cause
//     wraps lease.ErrDeadlinePassed);
//   - parent ends: cause is parent's.
//
// Watching starts from createRev, so a deletion between acquiring the key
// and calling Guard is not missed. A lease already known lost is reported
// at once: the context is returned cancelled. Call the returned cancel to
// release the guard's goroutine.
//
// The guard's goroutine cancels the context a moment after a loss; Check
// reports a loss of the lease known at the time of the call, at once.
func Guard(parent context.Context, cli *clientv3.Client, key string, createRev int64, l *lease.Lease) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(parent)
	ctx = context.WithValue(ctx, guardKey{}, &guarded{l: l, cancel: cancel})
	if err := LeaseLoss(l); err != nil {
		cancel(err)
	}
	go func() {
		cause := watch(ctx, cli, key, createRev, l)
		cancel(cause)
	}()
	return ctx, func() { cancel(context.Canceled) }
}

// guardKey marks a guard's context; its value is a *guarded.
type guardKey struct{}

// guarded is what Check needs of a guard.
type guarded struct {
	l      *lease.Lease
	cancel context.CancelCauseFunc
}

// Check returns ctx, a context of Guard or one derived from it, after
// cancelling the guard if its lease is known lost now: Done closed, or the
// deadline passed. Call it before reporting whether ownership holds, so a
// loss already known is reported by that very call rather than a moment
// later, when the guard's goroutine has run. Without a guard in ctx, Check
// does nothing.
func Check(ctx context.Context) context.Context {
	if g, ok := ctx.Value(guardKey{}).(*guarded); ok && ctx.Err() == nil {
		if err := LeaseLoss(g.l); err != nil {
			g.cancel(err) // cancels ctx too, at once: it derives from the guard
		}
	}
	return ctx
}

// LeaseLoss says why l cannot back ownership now, judged locally, or nil:
// it was lost (its Err), or no renewal was confirmed before its deadline
// (wrapping lease.ErrDeadlinePassed).
func LeaseLoss(l *lease.Lease) error {
	if err := l.Err(); err != nil {
		return err
	}
	if d := l.Deadline(); !time.Now().Before(d) {
		return fmt.Errorf("lease %x: %w: no renewal confirmed since the deadline %s", int64(l.ID()), lease.ErrDeadlinePassed, d.Format(time.RFC3339Nano))
	}
	return nil
}

// watch blocks until ownership is lost or ctx ends, and returns the cause.
func watch(ctx context.Context, cli *clientv3.Client, key string, createRev int64, l *lease.Lease) error {
	// Every request below also ends when the lease is lost: a Get on a
	// member cut off from its cluster blocks for etcd's whole request
	// timeout, and the loss must not wait for it.
	//
	// The lease's deadline is checked here too: Done closes at the deadline
	// only while a KeepAlive loop runs, and a shared lease may have none.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		for {
			if err := LeaseLoss(l); err != nil {
				cancel(err)
				return
			}
			timer := time.NewTimer(time.Until(l.Deadline()))
			select {
			case <-l.Done():
				timer.Stop()
				cancel(l.Err())
				return
			case <-ctx.Done():
				timer.Stop()
				return
			case <-timer.C: // renewed meanwhile, or lost: look again
			}
		}
	}()
	after := createRev // every deletion after it is watched for
	retry := backoff.New(backoff.Policy{})
	for {
		wctx, wcancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		wch := watchresume.Watch(wctx, cli, watchresume.Range{Key: key}, after, 0, clientv3.WithFilterPut())
		err := drain(ctx, wch, l, createRev)
		wcancel()
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		// The watch ended (compaction, lost leader, reconnect): find out
		// whether the key is still ours, then watch on from there.
		for {
			resp, gerr := cli.Get(ctx, key)
			if gerr == nil {
				if len(resp.Kvs) == 0 || resp.Kvs[0].CreateRevision != createRev {
					return fmt.Errorf("%w: %s", ErrKeyGone, key)
				}
				after = resp.Header.Revision
				retry.Reset()
				break
			}
			select {
			case <-ctx.Done():
				return context.Cause(ctx)
			case <-l.Done():
				return l.Err()
			default:
			}
			if err := etcderr.ClientClosed(cli); err != nil {
				return err // nothing can be checked any more: the key is not known to be ours
			}
			if err := retry.Wait(ctx); err != nil {
				return context.Cause(ctx)
			}
		}
	}
}

// drain reads watch events until the key is deleted (returns ErrKeyGone),
// the lease is lost (returns its error), or the watch ends (returns nil).
func drain(ctx context.Context, wch clientv3.WatchChan, l *lease.Lease, createRev int64) error {
	for {
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-l.Done():
			return l.Err()
		case resp, ok := <-wch:
			if !ok || resp.Err() != nil {
				return nil
			}
			for _, ev := range resp.Events {
				if ev.Type == clientv3.EventTypeDelete && ev.Kv.ModRevision > createRev {
					return fmt.Errorf("%w: %s deleted at revision %d", ErrKeyGone, ev.Kv.Key, ev.Kv.ModRevision)
				}
			}
		}
	}
}
