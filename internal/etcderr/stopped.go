package etcderr

import (
	"errors"
	"fmt"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/status"

	"github.com/coordkit/coordkit/internal/errs"
)

// ErrMemberStopped marks an error caused by the etcd member serving the
// request having stopped: it is errs.MemberStopped, which the public
// packages export as ErrMemberStopped. MemberStopped recognises it, and
// etcd's own answers of a stopped member, from any client.
var ErrMemberStopped = errs.MemberStopped

// ErrClientStopped marks a request that a client bound to one member (an
// embedded node's in-process client) refused without sending it, because
// that member has stopped: nothing was applied, and no retry through that
// client can succeed. MemberStopped, Rejected and Permanent report true for
// it.
var ErrClientStopped = errors.New("client's member stopped; request not sent")

// raftStopped is what raft answers once its node has stopped. etcd does not
// map it to a gRPC code, so it arrives as codes.Unknown with this text.
const raftStopped = "raft: stopped"

// MemberStopped reports whether err says that the member which served, or
// was to serve, the request has stopped: ErrMemberStopped, etcd's
// "etcdserver: server stopped", or raft's "raft: stopped", from an
// in-process or a gRPC client.
//
// On its own it does not prove a write was not applied: etcd returns both
// of its errors also after the proposal was handed to raft (a member that
// stops while waiting for the proposal to apply), when it may still be
// committed by the rest of the cluster. Only ErrClientStopped, a request
// never sent, is a definite rejection.
func MemberStopped(err error) bool {
	return walk(err, func(e error) bool {
		if e == ErrMemberStopped || e == ErrClientStopped || e.Error() == raftStopped {
			return true
		}
		var desc string
		switch v := e.(type) {
		case rpctypes.EtcdError:
			desc = v.Error()
		case interface{ GRPCStatus() *status.Status }:
			desc = v.GRPCStatus().Message()
		}
		return desc == raftStopped || desc == rpctypes.ErrStopped.Error()
	})
}

// WrapMemberStopped returns err wrapped with ErrMemberStopped when
// MemberStopped recognises it and it does not match ErrMemberStopped
// already, err itself otherwise: every package reports a stopped member with
// the one sentinel (errs.MemberStopped).
func WrapMemberStopped(err error) error {
	if MemberStopped(err) && !errors.Is(err, ErrMemberStopped) {
		return fmt.Errorf("%w: %w", ErrMemberStopped, err)
	}
	return err
}

// walk reports whether f holds for err or any error it wraps.
func walk(err error, f func(error) bool) bool {
	if err == nil {
		return false
	}
	if f(err) {
		return true
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		return walk(u.Unwrap(), f)
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			if walk(e, f) {
				return true
			}
		}
	}
	return false
}

// clientStopped reports a request refused unsent by a stopped member's
// client.
func clientStopped(err error) bool { return errors.Is(err, ErrClientStopped) }
