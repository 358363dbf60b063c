package ops

import (
	"errors"

	"github.com/coordkit/coordkit/internal/errs"
	"github.com/coordkit/coordkit/internal/etcderr"
)

// Errors returned by this package, always wrapped as `ops: <operation>:
// <error>[: cause][; how to fix]`; test with errors.Is.
var (
	// ErrInvalidArgument means an argument cannot work (a nil client). It is
	// the value every coordkit package shares.
	ErrInvalidArgument = errs.InvalidArgument

	// ErrNoSpace means etcd refused a write because its database reached
	// its quota (the NOSPACE alarm). Reads and deletes still work. Delete
	// what is no longer needed, then RecoverNoSpace (compact, defragment,
	// disarm), or restart the members with a larger quota. Every coordkit
	// package wraps this same error.
	ErrNoSpace = etcderr.ErrNoSpace

	// ErrSnapshotCorrupt means a snapshot's bytes do not match its SHA-256
	// trailer, or it has no trailer (it was truncated, or is not a snapshot
	// etcd streamed). Take a new snapshot; do not restore this one.
	ErrSnapshotCorrupt = errors.New("snapshot corrupt or truncated")

	// ErrUnhealthy is what a failed health check wraps: the message says
	// which check failed and why.
	ErrUnhealthy = errors.New("unhealthy")

	// ErrNoLeader means the cluster has no leader: it lost quorum or is
	// electing one.
	ErrNoLeader = errors.New("cluster has no leader")

	// ErrAlarm means an alarm is raised in the cluster (NOSPACE wraps
	// ErrNoSpace too; CORRUPT means a member's data diverged and needs an
	// operator).
	ErrAlarm = errors.New("etcd alarm raised")
)
