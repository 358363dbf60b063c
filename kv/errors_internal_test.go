package kv

import (
	"errors"
	"strings"
	"testing"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// A member that stops while a write is in flight answers "raft: stopped"
// (codes.Unknown) or "etcdserver: server stopped": the proposal may already
// be in raft and committed by the other members, so the write is
// ErrMemberStopped with ErrUnknownOutcome, never ErrRejected.
func TestWriteErrMemberStoppedInFlight(t *testing.T) {
	for _, cause := range []error{
		status.Error(codes.Unknown, "raft: stopped"),
		rpctypes.ErrStopped,
	} {
		err := writeErr("put", "p/k", cause)
		if !errors.Is(err, ErrMemberStopped) || !errors.Is(err, ErrUnknownOutcome) || errors.Is(err, ErrRejected) {
			t.Errorf("%v: want ErrMemberStopped and ErrUnknownOutcome only", err)
		}
		if !errors.Is(err, cause) {
			t.Errorf("%v: etcd's error is lost", err)
		}
		if strings.Count(err.Error(), "kv: ") != 1 || !strings.HasPrefix(err.Error(), `kv: put "p/k": `) {
			t.Errorf("%q: want the prefix once, first", err)
		}
		if err := readErr("get", "p/k", 0, cause); !errors.Is(err, ErrMemberStopped) {
			t.Errorf("read: %v: want ErrMemberStopped", err)
		}
	}
	if err := writeErr("put", "p/k", rpctypes.ErrNoLeader); errors.Is(err, ErrMemberStopped) {
		t.Errorf("%v: no leader is not a stopped member", err)
	}
}
