package election

import (
	"errors"
	"fmt"

	"github.com/coordkit/coordkit/internal/errs"
)

// Errors returned by this package, always wrapped with the operation and the
// election's name (`election: <op> "<name>": <sentinel>...`); test with
// errors.Is. The shared ones are the same values in every coordkit package;
// ErrLost, ErrReleased, ErrLeaseLost and ErrNotHeld mean for a Term what
// they mean for a lock.Held.
var (
	// ErrInvalidArgument means New or Run got an unusable option or
	// argument: a nil client, a nil lease, or WithTTL together with
	// WithLease.
	ErrInvalidArgument = errs.InvalidArgument

	// ErrInvalidName means the election name is empty or too long. The name
	// is the key prefix every candidate's key lives under (name + "/"), as
	// with `etcdctl elect NAME`. It also matches ErrInvalidArgument.
	ErrInvalidName = errs.InvalidName

	// ErrInvalidTTL means WithTTL asked for less than one second. It also
	// matches ErrInvalidArgument.
	ErrInvalidTTL = errs.InvalidTTL

	// ErrValueTooLarge means a candidate's value, together with its key,
	// would not fit in one etcd request (1.5 MiB by default). Store large
	// data elsewhere and put a reference in the value.
	ErrValueTooLarge = errors.New("value too large")

	// ErrLeaseLost means Campaign gave up because its candidacy ended
	// while it waited: its lease expired, was revoked or passed its
	// keep-alive deadline, or its candidate key was deleted. Campaign again;
	// without WithLease a new lease is granted.
	ErrLeaseLost = errs.LeaseLost

	// ErrDuplicateCandidate means the candidate key of the lease given with
	// WithLease (name/hex(lease ID)) exists in etcd attached to another
	// lease: something other than a campaign wrote it. Delete it. (A key
	// the lease itself carries is resumed, and a Campaign sharing the lease
	// with another of this process waits its turn.)
	ErrDuplicateCandidate = errors.New("candidate key exists on another lease")

	// ErrNotHeld means a write fenced on a Term (Proclaim) was refused
	// because the term is over (lost or resigned): nothing was written.
	// The error also wraps the Term's Err, and matches ErrRejected.
	ErrNotHeld = errs.NotHeld

	// ErrNoLeader means nobody leads the election: it has no candidates.
	ErrNoLeader = errors.New("no leader")

	// ErrLost is what Term.Err wraps when leadership ended without
	// Resign: the leader key was deleted (the error also wraps
	// ErrKeyDeleted) or its lease was lost (expired, revoked, or its
	// keep-alive deadline passed, which lease errors tell apart through
	// errors.Is).
	ErrLost = errs.Lost

	// ErrKeyDeleted means the leader key was deleted (by another client,
	// `etcdctl del`, or the end of its lease) or replaced during the term.
	// It is the same value as lock.ErrKeyDeleted.
	ErrKeyDeleted = errs.KeyDeleted

	// ErrReleased is what Term.Err wraps after Resign (or Run's own
	// step-down).
	ErrReleased = errs.Released

	// ErrRejected means a write (Proclaim) was refused before it was
	// applied; nothing was written.
	ErrRejected = errs.Rejected

	// ErrUnknownOutcome means a write (Proclaim) was sent but no answer
	// came back: it may have been applied, and it is never re-sent.
	ErrUnknownOutcome = errs.UnknownOutcome
)

// errorf formats an error in the package's shape:
// `election: <op> "<name>": ...`.
func errorf(op, name, format string, args ...any) error {
	return fmt.Errorf("election: %s %q: "+format, append([]any{op, name}, args...)...)
}
