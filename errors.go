package coordkit

import (
	"errors"

	"github.com/coordkit/coordkit/internal/errs"
)

// Sentinel errors returned, always wrapped with the operation and details
// (`coordkit: connect: no etcd endpoint answered: ...`), by Connect,
// ClientConfigFromEnv, the membership functions and CheckLeaseTTL. Test for
// them with errors.Is.
var (
	// ErrInvalidArgument means an argument or a ClientConfig field is
	// malformed or missing, for example no endpoints, or a password without a
	// user. The message names the field and the value. It is the same value
	// as every coordkit package's ErrInvalidArgument.
	ErrInvalidArgument = errs.InvalidArgument

	// ErrInvalidTTL means a lease TTL is too short to survive a change of
	// raft leader with the cluster's election timeout; see MinLeaseTTL. It
	// is the same value as lease.ErrInvalidTTL, and also matches
	// ErrInvalidArgument.
	ErrInvalidTTL = errs.InvalidTTL

	// ErrAuthRefused means the cluster refused the client's identity: no
	// credentials while auth is enabled (wrapping rpctypes.ErrUserEmpty), an
	// unknown user or a wrong password (rpctypes.ErrAuthFailed; etcd does not
	// say which), or a rejected token. The message names the user, never the
	// password.
	ErrAuthRefused = errors.New("authentication refused")

	// ErrTLSRefused means a TLS handshake with the cluster failed: the
	// server refused the client certificate (none sent:
	// ErrClientCertificateRequired; signed by another CA:
	// tlsconfig.ErrUnknownAuthority; expired: tlsconfig.ErrExpired), or the
	// client refused the server's (same tlsconfig errors, or
	// tlsconfig.ErrHostMismatch).
	ErrTLSRefused = errors.New("TLS handshake refused")

	// ErrClientCertificateRequired means the server demands a client
	// certificate (etcd's --client-cert-auth) and none was configured.
	ErrClientCertificateRequired = errors.New("client certificate required")

	// ErrUnreachable means Connect could not reach any of the endpoints
	// within the dial timeout.
	ErrUnreachable = errors.New("no etcd endpoint answered")

	// ErrQuorumAtRisk means etcd refused a membership change that could
	// cost the cluster its quorum (too few members started or connected),
	// or one it cannot take now (too many learners). Nothing changed; try
	// again once the cluster is healthy.
	ErrQuorumAtRisk = errors.New("membership change refused: it could cost the cluster its quorum")

	// ErrLastMember means a removal was refused because the member is the
	// cluster's only voting member. Close the member instead.
	ErrLastMember = errors.New("cannot remove the cluster's last voting member")

	// ErrMemberNotFound means no member of the cluster has the given ID.
	ErrMemberNotFound = errors.New("no such member")

	// ErrNotLearner means a promotion named a member that already votes.
	ErrNotLearner = errors.New("member is not a learner")

	// ErrLearnerNotReady means etcd refused to promote a learner whose log
	// has not caught up with the leader's yet. Nothing changed; try again.
	ErrLearnerNotReady = errors.New("learner has not caught up with the leader")
)
