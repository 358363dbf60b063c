package lease

import "errors"

// Errors returned by this package, wrapped with details; test with errors.Is.
var (
	// ErrInvalidTTL means a TTL under one second was asked for; etcd counts
	// lease time in whole seconds.
	ErrInvalidTTL = errors.New("lease: TTL must be at least one second")

	// ErrExpired means the server no longer has the lease: it expired, or
	// someone else revoked it. Every key attached to it is gone.
	ErrExpired = errors.New("lease: expired or revoked elsewhere")

	// ErrRevoked means this Lease was revoked through Revoke.
	ErrRevoked = errors.New("lease: revoked")

	// ErrDeadlinePassed means no keep-alive was confirmed before the
	// lease's deadline: the server may have expired it by now (the network
	// or the cluster failed), so whatever it guards must be treated as lost.
	ErrDeadlinePassed = errors.New("lease: keep-alive deadline passed")

	// ErrClientStopped means the client the lease is renewed through can
	// send nothing more: it was closed, or it is the in-process client
	// (Node.Client) of an embedded member that has stopped. No renewal can
	// reach etcd, which expires the lease within its TTL, so whatever it
	// guards must be treated as lost now. Keep leases through an open
	// client (of a running member), and close what holds them before the
	// client.
	ErrClientStopped = errors.New("lease: client closed or its etcd member stopped, no renewal possible")

	// ErrClosed means the Lease handle was closed; the lease itself lives on
	// in etcd until its TTL runs out.
	ErrClosed = errors.New("lease: closed")
)
