package node

import (
	"errors"

	"github.com/coordkit/coordkit/internal/errs"
)

// Sentinel errors returned, always wrapped with the operation and details
// (`node: start "n1": address already in use: ...`), by Start, StartCluster,
// StartFromSnapshot and Node's methods. Test for them with errors.Is. The
// membership refusals (coordkit.ErrLastMember, coordkit.ErrQuorumAtRisk, ...)
// and the client's refusals (coordkit.ErrUnreachable, ...) are the root
// package's, since they happen the same way to a remote client.
var (
	// ErrInvalidArgument means a Config field is malformed, for example a URL
	// that does not parse or lacks a port, or fields that exclude each other
	// are both set. The message names the field and the value. It is the
	// same value as coordkit.ErrInvalidArgument and every other coordkit
	// package's ErrInvalidArgument.
	ErrInvalidArgument = errs.InvalidArgument

	// ErrPortInUse means a listen URL could not be bound because another
	// process (or another node) already listens there. Pick another port, or
	// use port 0 for a free one.
	ErrPortInUse = errors.New("address already in use")

	// ErrDataDirInUse means another etcd member (in this process or another)
	// holds the data directory open. Two members never share a Dir.
	ErrDataDirInUse = errors.New("data directory in use by another etcd member")

	// ErrNotReady means the member started but did not become ready within
	// Config.ReadyTimeout: typically it cannot reach a quorum of the peers
	// in InitialCluster, or those peers belong to another cluster (a
	// different ClusterToken). The message names the peers.
	ErrNotReady = errors.New("etcd member not ready")

	// ErrClusterMismatch means peers answered but belong to a different
	// cluster: their ClusterToken or InitialCluster differs from this
	// member's, or this member's Dir holds data of another cluster.
	ErrClusterMismatch = errors.New("peer belongs to a different cluster")

	// ErrStopped means the node has been closed, or stopped on its own (see
	// Node.Err for why).
	ErrStopped = errors.New("node stopped")

	// ErrAuthSetup means Start could not apply Config.Auth; the message says
	// which step failed and what was applied before it.
	ErrAuthSetup = errors.New("auth setup failed")

	// ErrJoin means a member could not join a running cluster
	// (Config.Join); what it had added to the cluster has been removed.
	ErrJoin = errors.New("join failed")
)
