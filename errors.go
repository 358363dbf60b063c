package coordkit

import "errors"

// Sentinel errors returned (wrapped, with details) by StartNode, Node and
// Connect. Test for them with errors.Is.
var (
	// ErrInvalidConfig means a NodeConfig or ClientConfig field is malformed,
	// for example a URL that does not parse or lacks a port. The message names
	// the field and the value.
	ErrInvalidConfig = errors.New("coordkit: invalid configuration")

	// ErrPortInUse means a listen URL could not be bound because another
	// process (or another node) already listens there. Pick another port, or
	// use port 0 for a free one.
	ErrPortInUse = errors.New("coordkit: address already in use")

	// ErrDataDirInUse means another etcd member (in this process or another)
	// holds the data directory open. Two members never share a Dir.
	ErrDataDirInUse = errors.New("coordkit: data directory in use by another etcd member")

	// ErrNotReady means the member started but did not become ready within
	// NodeConfig.ReadyTimeout: typically it cannot reach a quorum of the peers
	// in InitialCluster, or those peers belong to another cluster (a
	// different ClusterToken). The message names the peers.
	ErrNotReady = errors.New("coordkit: etcd member not ready")

	// ErrClusterMismatch means peers answered but belong to a different
	// cluster: their ClusterToken or InitialCluster differs from this
	// member's, or this member's Dir holds data of another cluster.
	ErrClusterMismatch = errors.New("coordkit: peer belongs to a different cluster")

	// ErrStopped means the node has been closed, or stopped on its own (see
	// Node.Err for why).
	ErrStopped = errors.New("coordkit: node stopped")

	// ErrAuthSetup means StartNode could not apply NodeConfig.Auth; the
	// message says which step failed and what was applied before it.
	ErrAuthSetup = errors.New("coordkit: auth setup failed")

	// ErrAuthRefused means the cluster refused the client's identity: no
	// credentials while auth is enabled (wrapping rpctypes.ErrUserEmpty), an
	// unknown user or a wrong password (rpctypes.ErrAuthFailed; etcd does not
	// say which), or a rejected token. The message names the user, never the
	// password.
	ErrAuthRefused = errors.New("coordkit: authentication refused")

	// ErrTLSRefused means a TLS handshake with the cluster failed: the
	// server refused the client certificate (none sent:
	// ErrClientCertificateRequired; signed by another CA:
	// tlsconfig.ErrUnknownAuthority; expired: tlsconfig.ErrExpired), or the
	// client refused the server's (same tlsconfig errors, or
	// tlsconfig.ErrHostMismatch).
	ErrTLSRefused = errors.New("coordkit: TLS handshake refused")

	// ErrClientCertificateRequired means the server demands a client
	// certificate (etcd's --client-cert-auth) and none was configured.
	ErrClientCertificateRequired = errors.New("coordkit: client certificate required")

	// ErrUnreachable means Connect could not reach any of the endpoints
	// within the dial timeout.
	ErrUnreachable = errors.New("coordkit: no etcd endpoint answered")

	// ErrQuorumAtRisk means etcd refused a membership change that could
	// cost the cluster its quorum (too few members started or connected),
	// or one it cannot take now (too many learners). Nothing changed; try
	// again once the cluster is healthy.
	ErrQuorumAtRisk = errors.New("coordkit: membership change refused: it could cost the cluster its quorum")

	// ErrLastMember means a removal was refused because the member is the
	// cluster's only voting member. Close the node instead.
	ErrLastMember = errors.New("coordkit: cannot remove the cluster's last voting member")

	// ErrMemberNotFound means no member of the cluster has the given ID.
	ErrMemberNotFound = errors.New("coordkit: no such member")

	// ErrNotLearner means a promotion named a member that already votes.
	ErrNotLearner = errors.New("coordkit: member is not a learner")

	// ErrLearnerNotReady means etcd refused to promote a learner whose log
	// has not caught up with the leader's yet. Nothing changed; try again.
	ErrLearnerNotReady = errors.New("coordkit: learner has not caught up with the leader")

	// ErrJoin means a member could not join a running cluster
	// (NodeConfig.Join); what it had added to the cluster has been removed.
	ErrJoin = errors.New("coordkit: join failed")

	// ErrLeaseTTLTooShort means a lease TTL is too short to survive a
	// change of raft leader with the cluster's election timeout; see
	// MinLeaseTTL.
	ErrLeaseTTLTooShort = errors.New("coordkit: lease TTL too short to survive a leader change")
)
