// Package etcderr classifies the errors etcd's client returns, once for the
// whole repository: which prove a write was not applied (so it may be sent
// again), which a retry may cure, and which no retry can fix. Anything a
// write returns that is not a proven rejection must be treated as an
// unknown outcome and never re-sent.
//
// A request on a closed client fails in gRPC exactly like a request that
// Close cut off in flight, whose outcome is unknown. ClientClosed, checked
// just before sending, tells the two apart: the request it stops was never
// sent.
package etcderr

import (
	"context"
	"errors"
	"fmt"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ErrClientClosed is wrapped by the error of a request that was not sent
// because its etcd client had been closed: a write that fails with it was
// not applied. Only ClientClosed returns it.
var ErrClientClosed = errors.New("etcd client closed, request not sent")

// ClientClosed returns an error wrapping ErrClientClosed if cli has been
// closed, and nil otherwise. Call it right before sending a request, and do
// not send it when it returns an error: the write is then proven not
// applied (Rejected), where gRPC's own error for a closed client ("the
// client connection is closing") cannot be told from a write cut off in
// flight.
//
// A client whose context was cancelled with a cause of its own (an embedded
// node's in-process client once the node stopped) says why: the error also
// wraps that cause.
func ClientClosed(cli *clientv3.Client) error {
	ctx := cli.Ctx()
	if ctx.Err() == nil {
		return nil
	}
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return fmt.Errorf("%w: %w", ErrClientClosed, cause)
	}
	return fmt.Errorf("%w: use an open client (close users of a client before the client)", ErrClientClosed)
}

// rejectedByOp are rejections caused by one operation of a request (in a
// txn, the culprit can be isolated by splitting it). etcd checks them before
// proposing, or when applying deterministically with the whole request
// failing: the write was not applied.
var rejectedByOp = []error{
	rpctypes.ErrLeaseNotFound, rpctypes.ErrRequestTooLarge, rpctypes.ErrTooManyOps,
	rpctypes.ErrDuplicateKey, rpctypes.ErrKeyNotFound, rpctypes.ErrEmptyKey,
	rpctypes.ErrValueProvided, rpctypes.ErrLeaseProvided, rpctypes.ErrPermissionDenied,
}

// rejectedByCluster are rejections that hit every request alike.
var rejectedByCluster = []error{
	rpctypes.ErrNoLeader, rpctypes.ErrTooManyRequests, rpctypes.ErrNoSpace,
	rpctypes.ErrNotCapable, rpctypes.ErrAuthFailed, rpctypes.ErrInvalidAuthToken,
	rpctypes.ErrAuthOldRevision, rpctypes.ErrUserEmpty, rpctypes.ErrCorrupt,
	ErrClientClosed,
}

// permanent are errors no retry of the same request can fix.
var permanent = []error{
	rpctypes.ErrPermissionDenied, rpctypes.ErrAuthNotEnabled, rpctypes.ErrAuthFailed,
	rpctypes.ErrUserEmpty, rpctypes.ErrInvalidAuthToken, ErrClientClosed,
}

func isAny(err error, targets []error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}

// Rejected reports whether err proves that a write was not applied,
// including a request a stopped member's client refused unsent
// (ErrClientStopped).
func Rejected(err error) bool {
	return isAny(err, rejectedByOp) || isAny(err, rejectedByCluster) || clientStopped(err)
}

// RejectedByOp reports whether err is a rejection caused by one operation
// of the request, rather than by the cluster's state.
func RejectedByOp(err error) bool { return isAny(err, rejectedByOp) }

// Code returns the gRPC status code behind err, from an etcd error or a
// gRPC status; codes.Unknown when there is none.
func Code(err error) codes.Code {
	var ee rpctypes.EtcdError
	if errors.As(err, &ee) {
		return ee.Code()
	}
	return status.Code(err)
}

// ErrNoSpace is the one error every coordkit write wraps when etcd refuses
// it because its database is full (the NOSPACE alarm). Packages export it
// (node.ErrNoSpace, ops.ErrNoSpace); errors.Is also matches etcd's own
// rpctypes.ErrNoSpace on the same errors.
var ErrNoSpace = errors.New("etcd database space exceeded (NOSPACE alarm is raised): writes and lease grants are refused until space is reclaimed, reads and deletes still work; " +
	"delete data you no longer need, then compact, defragment and disarm the alarm (node.Node.RecoverNoSpace or ops.RecoverNoSpace), or restart the members with a larger QuotaBackendBytes")

// NoSpace reports whether err is etcd refusing a write because its backend
// quota is exhausted.
func NoSpace(err error) bool {
	return errors.Is(err, ErrNoSpace) || errors.Is(err, rpctypes.ErrNoSpace)
}

// WrapNoSpace returns err wrapped with ErrNoSpace when it is etcd's NOSPACE
// refusal (and not already wrapped), err itself otherwise.
func WrapNoSpace(err error) error {
	if err == nil || errors.Is(err, ErrNoSpace) || !errors.Is(err, rpctypes.ErrNoSpace) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrNoSpace, err)
}

// Transient reports whether a failed request may succeed if tried again:
// the cluster was unreachable, overloaded, slow or between leaders, or the
// member serving it stopped (another may serve it; MemberStopped). For a
// write this says nothing about whether it was applied. A full database
// (NOSPACE) is not transient even though etcd reports it as
// ResourceExhausted: it lasts until an operator reclaims space.
func Transient(err error) bool {
	if NoSpace(err) {
		return false
	}
	if MemberStopped(err) && !clientStopped(err) {
		return true // another member may serve it
	}
	switch Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Aborted:
		return true
	}
	return false
}

// Permanent reports whether no retry of the same request can succeed: the
// request is malformed, the user is not authenticated or not allowed, or
// the client is closed, or bound to a member that has stopped
// (ErrClientStopped).
func Permanent(err error) bool {
	if isAny(err, permanent) || clientStopped(err) {
		return true
	}
	switch Code(err) {
	case codes.InvalidArgument, codes.PermissionDenied, codes.Unauthenticated:
		return true
	}
	return false
}
