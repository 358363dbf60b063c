package lock

import (
	"context"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit/internal/waitqueue"
)

// RWMutex is a distributed reader/writer lock: any number of readers, or
// one writer. Readers and writers queue in one order, by create revision:
// a reader waits only for writers ahead of it, a writer for everyone ahead
// of it, so a writer is never starved by a stream of readers arriving after
// it, and readers behind a waiting writer wait their turn.
//
// Keys live under name + "/read/" and name + "/write/", one per
// acquisition, so goroutines sharing a handle can hold read locks at once.
// A writer's token is greater than every earlier holder's. An RWMutex is
// safe for concurrent use; Close it when done.
type RWMutex struct {
	name  string
	s     *session
	read  *queue
	write *queue
}

// NewRWMutex returns a handle on the reader/writer lock called name. Do not
// give a Mutex or Semaphore the same name: their keys would share a prefix.
// Options are those of NewMutex.
func NewRWMutex(cli *clientv3.Client, name string, opts ...Option) (*RWMutex, error) {
	o, err := buildOptions("new rwmutex", cli, name, opts)
	if err != nil {
		return nil, err
	}
	s := newSession(cli, name, o)
	all, readers, writers := name+"/", name+"/read/", name+"/write/"
	rw := &RWMutex{name: name, s: s}
	rw.read = (&queue{
		s:        s,
		key:      func(id clientv3.LeaseID) string { return randomKey(readers, id) },
		blockers: func(maxRev int64) clientv3.Op { return waitqueue.LastBefore(writers, maxRev) },
		turn:     waitqueue.WaitForLast,
	}).init()
	rw.write = (&queue{
		s:        s,
		key:      func(id clientv3.LeaseID) string { return randomKey(writers, id) },
		blockers: func(maxRev int64) clientv3.Op { return waitqueue.LastBefore(all, maxRev) },
		turn:     waitqueue.WaitForLast,
	}).init()
	return rw, nil
}

// Name is the lock's name.
func (rw *RWMutex) Name() string { return rw.name }

// RLock waits until a read lock is held: when no writer is ahead. Errors
// are those of Mutex.Lock.
func (rw *RWMutex) RLock(ctx context.Context) (*Held, error) { return rw.read.acquire(ctx, false) }

// TryRLock takes a read lock if no writer holds or awaits the lock ahead of
// it, and returns ErrLocked otherwise.
func (rw *RWMutex) TryRLock(ctx context.Context) (*Held, error) { return rw.read.acquire(ctx, true) }

// Lock waits until the write lock is held: when every earlier reader and
// writer is gone. Errors are those of Mutex.Lock.
func (rw *RWMutex) Lock(ctx context.Context) (*Held, error) { return rw.write.acquire(ctx, false) }

// TryLock takes the write lock if nobody holds or awaits the lock ahead of
// it, and returns ErrLocked otherwise.
func (rw *RWMutex) TryLock(ctx context.Context) (*Held, error) { return rw.write.acquire(ctx, true) }

// Close revokes the handle's own lease, releasing its holds, and makes
// further acquisitions fail with ErrClosed; see Mutex.Close.
func (rw *RWMutex) Close(ctx context.Context) error { return rw.s.close(ctx) }
