package lock

import (
	"context"
	"fmt"
	"sync/atomic"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit/internal/waitqueue"
)

// Mutex is a distributed mutual-exclusion lock with the key layout of
// etcd's concurrency.Mutex and `etcdctl lock`: it and they exclude each
// other.
//
// A Mutex is safe for concurrent use. Goroutines sharing one take turns
// in-process (an exclusive lock cannot be held twice anyway), so only one
// of them at a time has a key in etcd. Close it when done.
type Mutex struct {
	name string
	s    *session
	q    *queue
	slot chan struct{} // held from Lock until Unlock: one key per lease
}

// NewMutex returns a handle on the lock called name. Its key is
// name + "/" + the lease ID in hex, as with concurrency.Mutex, so
// `etcdctl lock name` and concurrency.NewMutex(session, name) contend for
// the same lock.
//
// By default the handle grants its own lease (WithTTL, default 10 s) at the
// first Lock, keeps it alive until Close, and grants a new one if it is
// lost. With WithLease it uses the given lease (see WithLease): a key that
// lease already has is taken back (a process that restarted), held at once
// if it is still the owner; a second handle of this process sharing that
// *lease.Lease waits for the first to unlock, as any other contender would.
func NewMutex(cli *clientv3.Client, name string, opts ...Option) (*Mutex, error) {
	return newMutex("new mutex", cli, name, opts...)
}

// newMutex is NewMutex, its errors naming op.
func newMutex(op string, cli *clientv3.Client, name string, opts ...Option) (*Mutex, error) {
	o, err := buildOptions(op, cli, name, opts)
	if err != nil {
		return nil, err
	}
	s := newSession(cli, name, o)
	pfx := name + "/"
	m := &Mutex{name: name, s: s, slot: make(chan struct{}, 1)}
	var last atomic.Pointer[leaseKey] // the key changes only with the lease
	m.q = (&queue{
		s: s,
		key: func(id clientv3.LeaseID) string {
			if k := last.Load(); k != nil && k.id == id {
				return k.key
			}
			k := &leaseKey{id: id, key: fmt.Sprintf("%s%x", pfx, int64(id))}
			last.Store(k)
			return k.key
		},
		fixedKey: true,
		blockers: func(maxRev int64) clientv3.Op { return waitqueue.LastBefore(pfx, maxRev) },
		turn:     waitqueue.WaitForLast,
	}).init()
	return m, nil
}

type leaseKey struct {
	id  clientv3.LeaseID
	key string
}

// Name is the lock's name.
func (m *Mutex) Name() string { return m.name }

// Lock waits until the lock is held, ctx ends, or the lease ends, whichever
// comes first. If ctx ends or the lease is lost while waiting, the waiter
// key is removed and the error wraps ctx's error or ErrLeaseLost (see the
// package doc, "Waiters that notice their own death").
func (m *Mutex) Lock(ctx context.Context) (*Held, error) {
	if err := m.q.s.closedErr(); err != nil {
		return nil, err // not behind a hold that Close already released
	}
	select {
	case m.slot <- struct{}{}:
	case <-ctx.Done():
		return nil, errorf("lock", m.name, "%w", context.Cause(ctx))
	}
	return m.hold(m.q.acquire(ctx, false))
}

// TryLock acquires the lock if nobody holds or awaits it ahead of this
// call, and otherwise returns ErrLocked at once, leaving no key behind.
func (m *Mutex) TryLock(ctx context.Context) (*Held, error) {
	select {
	case m.slot <- struct{}{}:
	default:
		return nil, errorf("try lock", m.name, "%w: held by another goroutine sharing this handle", ErrLocked)
	}
	return m.hold(m.q.acquire(ctx, true))
}

func (m *Mutex) hold(h *Held, err error) (*Held, error) {
	if err != nil {
		<-m.slot
		return nil, err
	}
	h.free = func() { <-m.slot }
	return h, nil
}

// Close revokes the handle's own lease, releasing any hold it has, and
// makes further Lock calls fail with ErrClosed. With WithLease the shared
// lease is left alone and holds stay until unlocked. Close is idempotent.
func (m *Mutex) Close(ctx context.Context) error { return m.s.close(ctx) }
