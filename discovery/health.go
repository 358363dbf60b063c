package discovery

import (
	"context"
	"errors"
	"fmt"
)

// ErrNotRegistered is what Registration.Check wraps while the instance is
// not in etcd: lost and being re-registered, or closed.
var ErrNotRegistered = errors.New("instance not registered")

// Check returns nil while the instance is registered, and otherwise an
// error wrapping ErrNotRegistered and the reason (Err): a readiness check
// for a service that must not take traffic unless it is discoverable. It
// fits ops.CheckFunc.
func (r *Registration) Check(context.Context) error {
	c := r.states.get()
	if c.State == Registered {
		return nil
	}
	if c.Err != nil {
		return fmt.Errorf("%w: %s is %s: %w", ErrNotRegistered, r.key, c.State, c.Err)
	}
	return fmt.Errorf("%w: %s is %s", ErrNotRegistered, r.key, c.State)
}

// Check returns nil while the Watcher's cache is current, and otherwise
// Err, an error wrapping ErrStale: a readiness check for a client that must
// not route on a stale view. It fits ops.CheckFunc.
func (w *Watcher) Check(context.Context) error { return w.Err() }
