package lock

import (
	"context"
	"errors"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Run runs fn while holding the lock called name, then unlocks: the library
// form of `etcdctl lock name <command>`. fn gets the hold, as
// election.Callbacks.OnElected gets its Term: its Token, and the fenced
// writes (Held.Do, Held.Txn, kv's Store.Fenced). fn's context is cancelled
// if ctx ends or the hold is lost, with the reason as its cause; fn should
// stop promptly then. HeldFrom(ctx) returns the same hold from that context.
//
// Run grants a lease for this run (WithTTL) or uses WithLease. Its error
// joins fn's error, an error wrapping ErrLost if the hold was lost before
// fn returned, and any unlock failure.
func Run(ctx context.Context, cli *clientv3.Client, name string, fn func(ctx context.Context, held *Held) error, opts ...Option) (err error) {
	if fn == nil {
		return errorf("run", name, "%w: nil function; pass the work to do while holding the lock", ErrInvalidArgument)
	}
	m, err := newMutex("run", cli, name, opts...)
	if err != nil {
		return err
	}
	cleanup := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	}
	defer func() {
		cctx, cancel := cleanup()
		defer cancel()
		err = errors.Join(err, m.Close(cctx))
	}()
	h, err := m.Lock(ctx)
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := cleanup()
		defer cancel()
		err = errors.Join(err, h.Unlock(cctx))
	}()

	fctx, cancel := context.WithCancelCause(context.WithValue(ctx, heldKey{}, h))
	defer cancel(nil)
	stop := context.AfterFunc(h.Context(), func() { cancel(h.Err()) })
	defer stop()
	ferr := fn(fctx, h)
	return errors.Join(ferr, h.Err())
}

type heldKey struct{}

// HeldFrom returns the hold that Run runs its function under, from the
// context Run gives the function; nil for any other context.
func HeldFrom(ctx context.Context) *Held {
	h, _ := ctx.Value(heldKey{}).(*Held)
	return h
}
