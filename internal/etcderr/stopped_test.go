package etcderr_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/coordkit/coordkit/coordtest"
	"github.com/coordkit/coordkit/internal/errs"
	"github.com/coordkit/coordkit/internal/etcderr"
)

// etcd's answers of a stopped member, as an in-process client (status
// errors), a gRPC client (etcd errors after clientv3's conversion) and
// wrapped by coordkit see them.
func TestMemberStoppedFromAnyClient(t *testing.T) {
	for _, err := range []error{
		status.Error(codes.Unknown, "raft: stopped"), // raft's, unmapped by etcd
		errors.New("raft: stopped"),
		rpctypes.ErrGRPCStopped, // "etcdserver: server stopped"
		rpctypes.ErrStopped,
		rpctypes.Error(rpctypes.ErrGRPCStopped),
		fmt.Errorf("kv: put %q: %w", "k", status.Error(codes.Unknown, "raft: stopped")),
		fmt.Errorf("lock: %w", rpctypes.ErrStopped),
	} {
		require.True(t, etcderr.MemberStopped(err), "%v", err)
		// etcd answers so also after handing a proposal to raft: the
		// write may still be committed by the rest of the cluster.
		require.False(t, etcderr.Rejected(err), "%v", err)
		require.True(t, etcderr.Transient(err), "another member may serve it: %v", err)
		require.False(t, etcderr.Permanent(err), "%v", err)
	}
	for _, err := range []error{
		nil, errors.New("stopped"), rpctypes.ErrNoLeader, context.Canceled,
		status.Error(codes.Unavailable, "transport is closing"),
	} {
		require.False(t, etcderr.MemberStopped(err), "%v", err)
	}
}

// A stopped node's in-process client refuses every call unsent: a definite
// rejection that no retry through that client can cure.
func TestStoppedNodeClientRefusalIsADefiniteRejection(t *testing.T) {
	n := coordtest.NewNode(t)
	cli := n.Client()
	require.NoError(t, n.Kill())
	_, err := cli.Put(context.Background(), "k", "v")
	require.ErrorIs(t, err, etcderr.ErrClientStopped)
	require.True(t, etcderr.MemberStopped(err))
	require.True(t, etcderr.Rejected(err))
	require.True(t, etcderr.Permanent(err))
	require.False(t, etcderr.Transient(err))
}

// WrapMemberStopped adds the one shared sentinel once, and only to a
// stopped member's errors.
func TestWrapMemberStopped(t *testing.T) {
	err := etcderr.WrapMemberStopped(status.Error(codes.Unknown, "raft: stopped"))
	require.ErrorIs(t, err, errs.MemberStopped)
	require.Equal(t, err, etcderr.WrapMemberStopped(err), "wrapped once")
	require.NotErrorIs(t, etcderr.WrapMemberStopped(rpctypes.ErrNoLeader), errs.MemberStopped)
	require.Nil(t, etcderr.WrapMemberStopped(nil))
}
