package election

import "errors"

// Errors returned by this package, wrapped with details; test with
// errors.Is.
var (
	// ErrInvalidName means the election name is empty or too long. The name
	// is the key prefix every candidate's key lives under (name + "/"), as
	// with `etcdctl elect NAME`.
	ErrInvalidName = errors.New("election: invalid election name")

	// ErrValueTooLarge means a candidate's value, together with its key,
	// would not fit in one etcd request (1.5 MiB by default). Store large
	// data elsewhere and put a reference in the value.
	ErrValueTooLarge = errors.New("election: value too large")

	// ErrInvalidOption means New or Run got an unusable option or argument:
	// a nil client, a TTL under one second, a nil lease, or WithTTL together
	// with WithLease.
	ErrInvalidOption = errors.New("election: invalid option")

	// ErrCandidacyLost means Campaign gave up because its candidacy ended
	// while it waited: its lease expired, was revoked or passed its
	// keep-alive deadline, or its candidate key was deleted. Campaign never
	// returns a Term in that case. Campaign again; without WithLease a new
	// lease is granted.
	ErrCandidacyLost = errors.New("election: candidacy lost while campaigning")

	// ErrDuplicateCandidate means the lease given with WithLease already
	// carries a candidate key in this election (name/hex(lease ID)): another
	// Campaign with the same lease is running, or an earlier term was not
	// resigned. A lease carries at most one candidate per election; resign
	// the earlier term or use another lease.
	ErrDuplicateCandidate = errors.New("election: this lease already has a candidate in the election")

	// ErrNotLeader means a Term's leadership is over (lost or resigned), so
	// it cannot Proclaim. The error also wraps the Term's Err.
	ErrNotLeader = errors.New("election: not leader")

	// ErrNoLeader means nobody leads the election: it has no candidates.
	ErrNoLeader = errors.New("election: no leader")

	// ErrLeadershipLost is what Term.Err wraps when leadership ended without
	// Resign: the leader key was deleted or its lease was lost (expired,
	// revoked, or its keep-alive deadline passed, which lease errors tell
	// apart through errors.Is).
	ErrLeadershipLost = errors.New("election: leadership lost")

	// ErrResigned is Term.Err after Resign (or Run's own step-down).
	ErrResigned = errors.New("election: resigned")
)
