package lock

import (
	"context"
	"errors"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Do runs fn while holding the lock called name, then unlocks: the library
// form of `etcdctl lock name <command>`. fn gets the fencing token and a
// context that is cancelled if ctx ends or the hold is lost, with the
// reason as its cause; fn should stop promptly then, and should make its
// etcd writes fenced (Held.Do is not at hand here: compare the lock key's
// create revision with token, or use NewMutex for the Held).
//
// Do grants a lease for this run (WithTTL) or uses WithLease. Its error
// joins fn's error, an error wrapping ErrLost if the hold was lost before
// fn returned, and any unlock failure.
func Do(ctx context.Context, cli *clientv3.Client, name string, fn func(ctx context.Context, token int64) error, opts ...Option) (err error) {
	if fn == nil {
		return fmt.Errorf("%w: nil function", ErrInvalidArgument)
	}
	m, err := NewMutex(cli, name, opts...)
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

	fctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := context.AfterFunc(h.Context(), func() { cancel(h.Err()) })
	defer stop()
	ferr := fn(fctx, h.Token())
	return errors.Join(ferr, h.Err())
}
