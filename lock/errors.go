package lock

import "errors"

// Errors returned by this package, wrapped with details; test with errors.Is.
// Errors about a lost lease also wrap the lease package's errors
// (lease.ErrExpired, lease.ErrRevoked, lease.ErrDeadlinePassed,
// lease.ErrClosed), and a TTL under one second wraps lease.ErrInvalidTTL.
var (
	// ErrInvalidName means the lock name is empty or longer than
	// MaxNameLen. Names are etcd key prefixes: use something like
	// "jobs/nightly-report".
	ErrInvalidName = errors.New("lock: invalid lock name")

	// ErrInvalidArgument means a constructor got a nil client, a nil
	// lease, or options that contradict each other.
	ErrInvalidArgument = errors.New("lock: invalid argument")

	// ErrInvalidLimit means a semaphore was asked for fewer than one
	// holder.
	ErrInvalidLimit = errors.New("lock: semaphore limit must be at least 1")

	// ErrLocked is returned by the Try methods when another owner holds
	// the lock (or is ahead in its queue): nothing was acquired and no
	// waiter key is left behind.
	ErrLocked = errors.New("lock: held by another owner")

	// ErrSessionExpired means the lease behind an acquisition ended (it
	// expired, was revoked, or its keep-alive deadline passed) or the
	// waiter's key was deleted before the lock was acquired. Nothing is
	// held. With the default, per-handle lease, the next Lock grants a
	// fresh lease; with WithLease, grant a new lease.
	ErrSessionExpired = errors.New("lock: lease ended before the lock was acquired")

	// ErrNotHeld means a fenced operation (Held.Do, Held.Txn) was not
	// applied because the hold is over: the lock key is gone or belongs to
	// a newer holder. Nothing was written.
	ErrNotHeld = errors.New("lock: not held")

	// ErrLost is what Held.Err returns once a hold has been lost without
	// Unlock: the lock key was deleted or its lease ended. It wraps
	// ErrKeyDeleted or the lease package's error saying why.
	ErrLost = errors.New("lock: hold lost")

	// ErrKeyDeleted means the lock key was deleted (by another client,
	// `etcdctl del`, or the end of its lease) or replaced while held.
	ErrKeyDeleted = errors.New("lock key deleted or replaced")

	// ErrReleased is what Held.Err returns after a successful Unlock.
	ErrReleased = errors.New("lock: released by Unlock")

	// ErrLimitMismatch means the semaphore's limit stored in etcd differs
	// from the one this process asked for. Processes sharing a semaphore
	// must agree on its limit; to change it, delete the limit key (see
	// Semaphore.LimitKey) while nobody holds the semaphore.
	ErrLimitMismatch = errors.New("lock: semaphore limit mismatch")

	// ErrClosed means the handle (Mutex, RWMutex, Semaphore) was closed.
	ErrClosed = errors.New("lock: handle closed")
)
