package lease

import (
	"errors"

	"github.com/coordkit/coordkit/internal/errs"
)

// Errors returned by this package, always wrapped as `lease: <operation or
// lease ID>: <error>[: cause][; how to fix]`; test with errors.Is.
// ErrInvalidArgument, ErrInvalidTTL, ErrMemberStopped and ErrClosed are the
// values every coordkit package shares (lease.ErrInvalidTTL ==
// lock.ErrInvalidTTL).
var (
	// ErrInvalidArgument means an argument cannot work: a nil client.
	ErrInvalidArgument = errs.InvalidArgument

	// ErrInvalidTTL means a TTL under one second was asked for; etcd counts
	// lease time in whole seconds. It also matches ErrInvalidArgument.
	ErrInvalidTTL = errs.InvalidTTL

	// ErrMemberStopped means the etcd member serving the request stopped
	// (a Grant, Open, KeepAliveOnce or Revoke through it).
	ErrMemberStopped = errs.MemberStopped

	// ErrRejected means a Grant or Revoke was refused before etcd applied
	// it (or never sent, its client being closed): nothing changed, and it
	// is safe to retry once the cause is gone.
	ErrRejected = errs.Rejected

	// ErrUnknownOutcome means a Grant or Revoke was sent but no answer came
	// back: a Grant may have created a lease this process does not know
	// (it expires within its TTL); a Revoke may or may not have revoked
	// (Revoke is idempotent: call it again).
	ErrUnknownOutcome = errs.UnknownOutcome

	// ErrExpired means the server no longer has the lease: it expired, or
	// someone else revoked it. Every key attached to it is gone.
	ErrExpired = errors.New("expired or revoked elsewhere")

	// ErrRevoked means this Lease was revoked through Revoke.
	ErrRevoked = errors.New("revoked")

	// ErrDeadlinePassed means no keep-alive was confirmed before the
	// lease's deadline: the server may have expired it by now (the network
	// or the cluster failed), so whatever it guards must be treated as lost.
	ErrDeadlinePassed = errors.New("keep-alive deadline passed")

	// ErrClientStopped means the client the lease is renewed through can
	// send nothing more: it was closed, or it is the in-process client
	// (node.Node.Client) of an embedded member that has stopped. No renewal can
	// reach etcd, which expires the lease within its TTL, so whatever it
	// guards must be treated as lost now. Keep leases through an open
	// client (of a running member), and close what holds them before the
	// client.
	ErrClientStopped = errors.New("client closed or its etcd member stopped, no renewal possible")

	// ErrClosed means the Lease handle was closed; the lease itself lives on
	// in etcd until its TTL runs out.
	ErrClosed = errs.Closed
)
