package lock

import (
	"errors"
	"fmt"

	"github.com/coordkit/coordkit/internal/errs"
)

// Errors returned by this package, always wrapped with the operation and the
// lock's name (`lock: <op> "<name>": <sentinel>...`); test with errors.Is.
// The shared ones are the same values in every coordkit package (a nil
// client is ErrInvalidArgument in lock, election, kv and discovery alike).
// Errors about a lost lease also wrap the lease package's errors
// (lease.ErrExpired, lease.ErrRevoked, lease.ErrDeadlinePassed,
// lease.ErrClosed).
var (
	// ErrInvalidArgument means a constructor got a nil client, a nil
	// lease, or options that contradict each other.
	ErrInvalidArgument = errs.InvalidArgument

	// ErrInvalidName means the lock name is empty or longer than
	// MaxNameLen. Names are etcd key prefixes: use something like
	// "jobs/nightly-report". It also matches ErrInvalidArgument.
	ErrInvalidName = errs.InvalidName

	// ErrInvalidTTL means WithTTL asked for less than one second. It also
	// matches ErrInvalidArgument.
	ErrInvalidTTL = errs.InvalidTTL

	// ErrInvalidLimit means a semaphore was asked for fewer than one
	// holder. The error also wraps ErrInvalidArgument.
	ErrInvalidLimit = errors.New("semaphore limit must be at least 1")

	// ErrLocked is returned by the Try methods when another owner holds
	// the lock (or is ahead in its queue): nothing was acquired and no
	// waiter key is left behind.
	ErrLocked = errors.New("held by another owner")

	// ErrLeaseLost means the lease behind an acquisition ended (it
	// expired, was revoked, or its keep-alive deadline passed) or the
	// waiter's key was deleted before the lock was acquired. Nothing is
	// held. With the default, per-handle lease, the next Lock grants a
	// fresh lease; with WithLease, grant a new lease.
	ErrLeaseLost = errs.LeaseLost

	// ErrNotHeld means a fenced operation (Held.Do, Held.Txn) was not
	// applied because the hold is over: the lock key is gone or belongs to
	// a newer holder. Nothing was written. It also matches ErrRejected.
	ErrNotHeld = errs.NotHeld

	// ErrLost is what Held.Err wraps once a hold has ended without
	// Unlock: the lock key was deleted or its lease ended. The error also
	// wraps ErrKeyDeleted or the lease package's error saying why.
	ErrLost = errs.Lost

	// ErrKeyDeleted means the lock key was deleted (by another client,
	// `etcdctl del`, or the end of its lease) or replaced while held. It is
	// the same value as election.ErrKeyDeleted.
	ErrKeyDeleted = errs.KeyDeleted

	// ErrReleased is what Held.Err returns after Unlock.
	ErrReleased = errs.Released

	// ErrRejected means a write (Held.Do, Txn.Commit) was refused before
	// it was applied; nothing was written.
	ErrRejected = errs.Rejected

	// ErrUnknownOutcome means a write (Held.Do, Txn.Commit) was sent but
	// no answer came back: it may have been applied, and it is never
	// re-sent. Read to find out.
	ErrUnknownOutcome = errs.UnknownOutcome

	// ErrLimitMismatch means the semaphore's limit stored in etcd differs
	// from the one this process asked for. Processes sharing a semaphore
	// must agree on its limit; to change it, delete the limit key (see
	// Semaphore.LimitKey) while nobody holds the semaphore.
	ErrLimitMismatch = errors.New("semaphore limit mismatch")

	// ErrClosed means the handle (Mutex, RWMutex, Semaphore) was closed.
	ErrClosed = errs.Closed
)

// errorf formats an error in the package's shape: `lock: <op> "<name>": ...`.
func errorf(op, name, format string, args ...any) error {
	return fmt.Errorf("lock: %s %q: "+format, append([]any{op, name}, args...)...)
}
