// Package etcderr classifies the errors etcd's client returns, once for the
// whole repository: which prove a write was not applied (so it may be sent
// again), which a retry may cure, and which no retry can fix. Anything a
// write returns that is not a proven rejection must be treated as an
// unknown outcome and never re-sent.
package etcderr

import (
	"errors"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

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
}

// permanent are errors no retry of the same request can fix.
var permanent = []error{
	rpctypes.ErrPermissionDenied, rpctypes.ErrAuthNotEnabled, rpctypes.ErrAuthFailed,
	rpctypes.ErrUserEmpty, rpctypes.ErrInvalidAuthToken,
}

func isAny(err error, targets []error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}

// Rejected reports whether err proves that a write was not applied.
func Rejected(err error) bool {
	return isAny(err, rejectedByOp) || isAny(err, rejectedByCluster)
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

// Transient reports whether a failed request may succeed if tried again:
// the cluster was unreachable, overloaded, slow or between leaders. For a
// write this says nothing about whether it was applied.
func Transient(err error) bool {
	switch Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Aborted:
		return true
	}
	return false
}

// Permanent reports whether no retry of the same request can succeed: the
// request is malformed, or the user is not authenticated or not allowed.
func Permanent(err error) bool {
	if isAny(err, permanent) {
		return true
	}
	switch Code(err) {
	case codes.InvalidArgument, codes.PermissionDenied, codes.Unauthenticated:
		return true
	}
	return false
}
