package discovery

import (
	"errors"

	"github.com/coordkit/coordkit/internal/errs"
)

// Errors shared with every coordkit package: one value each, the same as
// kv.ErrInvalidArgument, lock.ErrInvalidArgument and so on (see
// internal/errs for their meaning).
var (
	// ErrInvalidArgument: a nil client or lease, a nil Update function, or
	// an option out of range.
	ErrInvalidArgument = errs.InvalidArgument
	// ErrInvalidName: a service name that is empty, too long, or holds a
	// character other than letters, digits, '.', '_', '-' and ':' (a
	// service name is one segment of an etcd key, so '/' in particular is
	// refused). It also matches ErrInvalidArgument.
	ErrInvalidName = errs.InvalidName
	// ErrInvalidTTL: WithTTL under one second. It also matches
	// ErrInvalidArgument.
	ErrInvalidTTL = errs.InvalidTTL
	// ErrClosed: the Registration or Watcher was closed.
	ErrClosed = errs.Closed
	// ErrRejected: a write (Register, Update, Drain, Close) was refused
	// before it was applied; nothing was written.
	ErrRejected = errs.Rejected
	// ErrUnknownOutcome: a write was sent but no answer came back; it may
	// have been applied.
	ErrUnknownOutcome = errs.UnknownOutcome
	// ErrMemberStopped: the etcd member serving a request stopped; a write
	// then also wraps ErrRejected (never sent) or ErrUnknownOutcome.
	ErrMemberStopped = errs.MemberStopped
	// ErrLost: a registration on a caller's lease (WithLease) ended because
	// that lease was lost; the error also wraps the lease's.
	ErrLost = errs.Lost
	// ErrLeaseLost: the lease given with WithLease was already lost when
	// Register was called, or was lost before the first put; nothing is
	// registered. Register again on a new lease.
	ErrLeaseLost = errs.LeaseLost
)

// Errors of this package, wrapped with details; test with errors.Is.
var (
	// ErrInvalidInstance means an Instance cannot be registered: a missing
	// or malformed ID or Addr, a negative Weight, a reserved Metadata key,
	// or an encoded value over MaxValueSize. The message names the field.
	// It also matches ErrInvalidArgument.
	ErrInvalidInstance = errs.Narrow("invalid instance", errs.InvalidArgument)

	// ErrClientClosed means the etcd client was closed under a live
	// Registration or Watcher: nothing can be read or written any more.
	// Close the Registrations and Watchers before the client.
	ErrClientClosed = errors.New("etcd client closed")

	// ErrKeyDeleted is why a Registration was lost when someone deleted
	// its key (etcdctl del, a cleanup script): the registration puts it
	// back. It is the same value as lock.ErrKeyDeleted and
	// election.ErrKeyDeleted.
	ErrKeyDeleted = errs.KeyDeleted

	// ErrTakenOver means the registration key is held by another lease:
	// another live process registered the same service and ID. IDs must
	// be unique among live instances; the last writer wins.
	ErrTakenOver = errors.New("registration key held by another process")

	// ErrNoInstances means a Picker found no instance to choose: none is
	// registered, or every one is draining.
	ErrNoInstances = errors.New("no available instances")

	// ErrStale means a Watcher's cache may be behind etcd: its watch broke
	// or etcd has not answered for a while. The cache still serves the
	// last good snapshot.
	ErrStale = errors.New("instance cache is stale")
)
