// Package waitqueue is how lock and election wait their turn, once for
// both (as etcd's concurrency package shares waitDeletes): a waiter owns a
// key under a prefix, attached to a lease; keys are ordered by create
// revision, and the waiter's turn comes when the keys ahead of it that
// matter are gone. Waiting means watching for the deletion of the nearest
// such key, never polling.
//
// Two rules every waiter keeps, each once learnt the hard way:
//
//   - A watch starts at the current revision and is confirmed by etcd
//     before the waiter relies on it; if the store moved past the read the
//     turn was decided on, one more read closes the gap. A watch that starts
//     at a past revision instead is served by etcd's catch-up loop, which
//     runs every 100 ms, and every hand-off racing the watch's creation
//     would pay for it.
//   - The loss of the waiter's lease or key ends the wait at once, even
//     while an etcd call blocks (a Watch or a read on a client cut off from
//     its cluster can block for etcd's whole request timeout): every call
//     runs under a context the loss cancels.
package waitqueue

import (
	"context"
	"errors"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit/internal/backoff"
	"github.com/coordkit/coordkit/internal/etcderr"
	"github.com/coordkit/coordkit/internal/keyguard"
	"github.com/coordkit/coordkit/lease"
)

// ErrGone is wrapped, together with the reason (keyguard.ErrKeyGone or the
// lease's error), by Wait's error when the waiter's key or lease ended
// while it waited.
var ErrGone = errors.New("waiter's key or lease ended while waiting")

// Target is what a waiter watches for a deletion: one key, or every key
// under a prefix.
type Target struct {
	Key    string
	Prefix bool
}

// Turn is what a read of the queue found.
type Turn struct {
	Held bool   // nothing that matters is ahead: the waiter's turn has come
	Next Target // otherwise, the nearest key (or prefix) ahead to watch
	Rev  int64  // the store revision the read saw
}

// Waiter is one key waiting for its turn.
type Waiter struct {
	Cli   *clientv3.Client
	Lease *lease.Lease
	Key   string // the waiter's own key, if it has one yet,
	Rev   int64  // created at this revision

	// Guard, when set, is a context that ends when Key (created at Rev) or
	// Lease is lost: a keyguard.Guard the caller keeps after the wait (an
	// election's term). When nil, Wait guards the key (or, without Key, the
	// lease) itself while it waits.
	Guard context.Context

	// Check reads the queue again. Its errors end the wait, except those
	// etcderr.Transient calls transient, which are retried with backoff.
	Check func(ctx context.Context) (Turn, error)

	// Deleted, if set, is called each time a watched key was seen deleted.
	Deleted func()
}

// Wait blocks until the waiter's turn comes, starting from turn, the read
// made when the key was created (or a Check). It returns nil only if the
// turn came while the lease still stood, judged locally as well
// (keyguard.LeaseLoss). Otherwise it returns an error wrapping ErrGone and
// the reason, ctx's cause (wrapped, test with errors.Is), or Check's error.
func (w *Waiter) Wait(ctx context.Context, turn Turn) error {
	guard := w.Guard
	switch {
	case guard != nil:
	case w.Key != "":
		g, stop := keyguard.Guard(ctx, w.Cli, w.Key, w.Rev, w.Lease)
		defer stop()
		guard = g
	default:
		g, end := context.WithCancelCause(ctx)
		defer end(nil)
		l := w.Lease
		defer context.AfterFunc(l.Context(), func() { end(l.Err()) })()
		guard = g
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(guard, cancel)()

	retry := backoff.New(backoff.Policy{Initial: 20 * time.Millisecond, Max: time.Second})
	for {
		if turn.Held {
			if err := keyguard.LeaseLoss(w.Lease); err != nil {
				return fmt.Errorf("%w: %w", ErrGone, err)
			}
			return w.ended(ctx, guard, nil)
		}
		d, err := watch(wctx, w.Cli, turn.Next)
		if err != nil {
			if err := w.pause(ctx, wctx, guard, retry, err); err != nil {
				return err
			}
			continue // watch refused (no leader): again, not in a tight loop
		}
		if d.rev != turn.Rev {
			// The store moved since the turn was read: read again, now
			// that the watch covers everything after.
			next, err := w.Check(wctx)
			if err != nil || next.Held || next.Next != turn.Next {
				d.stop()
				if err != nil {
					if err := w.pause(ctx, wctx, guard, retry, err); err != nil {
						return err
					}
				} else {
					turn = next // someone else is nearest now: watch them
				}
				continue
			}
		}
		deleted := d.deleted(wctx)
		d.stop()
		if deleted {
			retry.Reset()
			if w.Deleted != nil {
				w.Deleted()
			}
		} else if err := w.pause(ctx, wctx, guard, retry, wctx.Err()); err != nil { // the watch broke
			return err
		}
		for {
			next, err := w.Check(wctx)
			if err == nil {
				turn = next
				break
			}
			if err := w.pause(ctx, wctx, guard, retry, err); err != nil {
				return err
			}
		}
	}
}

// pause decides after a failed call: the wait ends (its error returned) if
// the waiter is gone, ctx ended or err cannot be cured by retrying;
// otherwise it waits a backoff step and returns nil.
func (w *Waiter) pause(ctx, wctx context.Context, guard context.Context, retry *backoff.Backoff, err error) error {
	if wctx.Err() == nil && err != nil && !etcderr.Transient(err) && !isWatchFailure(err) {
		return err
	}
	if wctx.Err() == nil {
		if retry.Wait(wctx) == nil {
			return nil
		}
	}
	return w.ended(ctx, guard, err)
}

// ended says why the wait under ctx and guard stopped, or returns err if
// neither ended.
func (w *Waiter) ended(ctx, guard context.Context, err error) error {
	if guard.Err() != nil && (ctx.Err() == nil || context.Cause(guard) != context.Cause(ctx)) {
		return fmt.Errorf("%w: %w", ErrGone, context.Cause(guard))
	}
	if ctx.Err() != nil {
		return fmt.Errorf("waiting: %w", context.Cause(ctx))
	}
	return err
}

// errWatch marks a watch that could not be set up (refused, closed): the
// wait retries it.
var errWatch = errors.New("watch not created")

func isWatchFailure(err error) bool { return errors.Is(err, errWatch) }

// deletion is a confirmed watch for deletions of a target.
type deletion struct {
	ch   clientv3.WatchChan
	stop context.CancelFunc
	rev  int64 // the store revision when etcd confirmed it
}

// watch registers a watch for deletions of t from now on, and returns once
// etcd has confirmed it.
func watch(ctx context.Context, cli *clientv3.Client, t Target) (*deletion, error) {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	opts := []clientv3.OpOption{clientv3.WithCreatedNotify(), clientv3.WithFilterPut()}
	if t.Prefix {
		opts = append(opts, clientv3.WithPrefix())
	}
	ch := cli.Watch(wctx, t.Key, opts...)
	select {
	case resp, ok := <-ch:
		if ok && resp.Created && resp.Err() == nil {
			return &deletion{ch: ch, stop: cancel, rev: resp.Header.Revision}, nil
		}
		cancel()
		switch {
		case !ok:
			return nil, fmt.Errorf("%w: closed before it was created", errWatch)
		case resp.Err() != nil:
			return nil, fmt.Errorf("%w: %w", errWatch, resp.Err())
		}
		return nil, errWatch
	case <-ctx.Done():
		cancel()
		return nil, ctx.Err()
	}
}

// deleted waits for a deletion; false means the watch broke or ctx ended.
func (d *deletion) deleted(ctx context.Context) bool {
	for {
		select {
		case resp, ok := <-d.ch:
			if !ok || resp.Err() != nil || resp.Canceled {
				return false
			}
			if len(resp.Events) > 0 {
				return true
			}
		case <-ctx.Done():
			return false
		}
	}
}
