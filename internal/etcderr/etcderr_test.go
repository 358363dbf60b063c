package etcderr_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"

	"github.com/coordkit/coordkit/coordtest"
	"github.com/coordkit/coordkit/internal/etcderr"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The classification is checked against what a real etcd returns, over
// gRPC, not against hand-made values only.
func TestClassifiesRealEtcdErrors(t *testing.T) {
	n := coordtest.NewNode(t)
	cli := n.NewClient(t)
	ctx := context.Background()

	_, err := cli.Put(ctx, "k", "v", clientv3.WithLease(clientv3.LeaseID(0x1234)))
	require.Error(t, err)
	require.True(t, etcderr.Rejected(err), "%v", err)
	require.True(t, etcderr.RejectedByOp(err))
	require.False(t, etcderr.Transient(err))

	_, err = cli.Put(ctx, "", "v")
	require.True(t, etcderr.Rejected(err), "%v", err)
	require.True(t, etcderr.Permanent(err), "empty key is InvalidArgument: %v", err)

	short, cancel := context.WithTimeout(ctx, time.Nanosecond)
	defer cancel()
	<-short.Done()
	_, err = cli.Put(short, "k", "v")
	require.Error(t, err)
	require.False(t, etcderr.Rejected(err), "a timeout proves nothing: %v", err)

	// Authentication against a cluster without auth is refused for good.
	_, err = cli.Authenticate(ctx, "nobody", "pw")
	require.Error(t, err)
	require.True(t, etcderr.Permanent(err), "%v", err)
}

func TestClassifiesWrappedErrors(t *testing.T) {
	wrapped := fmt.Errorf("kv: put %q: %w", "k", rpctypes.ErrNoLeader)
	require.True(t, etcderr.Rejected(wrapped))
	require.False(t, etcderr.RejectedByOp(wrapped))
	require.True(t, etcderr.Transient(wrapped))
	require.Equal(t, codes.Unavailable, etcderr.Code(wrapped))
	require.False(t, etcderr.Permanent(wrapped))

	require.True(t, etcderr.Transient(rpctypes.ErrTooManyRequests))
	require.True(t, etcderr.Permanent(rpctypes.ErrPermissionDenied))
	require.False(t, etcderr.Rejected(context.DeadlineExceeded))
	require.False(t, etcderr.Transient(errors.New("anything")))
	require.Equal(t, codes.Unknown, etcderr.Code(errors.New("anything")))
}

// A closed client's gRPC error cannot prove a write was not applied (Close
// cuts in-flight writes off with the same error); ClientClosed, checked
// before sending, can.
func TestClientClosedIsARejection(t *testing.T) {
	n := coordtest.NewNode(t)
	cli := n.NewClient(t)
	require.NoError(t, etcderr.ClientClosed(cli))
	require.NoError(t, cli.Close())

	_, err := cli.Put(context.Background(), "k", "v")
	require.Error(t, err)
	require.False(t, etcderr.Rejected(err), "gRPC's own error for a closed client proves nothing: %v", err)

	err = fmt.Errorf("kv: put: %w", etcderr.ClientClosed(cli))
	require.ErrorIs(t, err, etcderr.ErrClientClosed)
	require.True(t, etcderr.Rejected(err))
	require.False(t, etcderr.RejectedByOp(err), "a batch is not split over a closed client")
	require.True(t, etcderr.Permanent(err))
	require.False(t, etcderr.Transient(err))
}

// A full database is reported as ResourceExhausted, but no retry cures it:
// it is a rejection, not a transient failure, and it is wrapped with the
// one NOSPACE error.
func TestNoSpaceIsRejectedNotTransient(t *testing.T) {
	err := rpctypes.Error(rpctypes.ErrGRPCNoSpace)
	require.True(t, etcderr.NoSpace(err))
	require.True(t, etcderr.Rejected(err))
	require.False(t, etcderr.Transient(err), "retrying a write on a full database spins until an operator acts")
	wrapped := etcderr.WrapNoSpace(fmt.Errorf("put: %w", err))
	require.ErrorIs(t, wrapped, etcderr.ErrNoSpace)
	require.ErrorIs(t, wrapped, rpctypes.ErrNoSpace)
	require.Same(t, wrapped, etcderr.WrapNoSpace(wrapped), "wrapped once")
	require.NoError(t, etcderr.WrapNoSpace(nil))
	other := errors.New("other")
	require.Same(t, other, etcderr.WrapNoSpace(other))
}
