package node_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Defragment through the in-process client works as over gRPC: it used to
// panic inside etcd (its in-process maintenance service has no health
// notifier), crashing the program.
func TestNodeClientDefragments(t *testing.T) {
	t.Parallel()
	n := start(t, fast("defrag"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cli := n.Client()
	var last int64
	for i := 0; i < 100; i++ {
		put, err := cli.Put(ctx, "k", string(make([]byte, 10<<10)))
		require.NoError(t, err)
		last = put.Header.Revision
	}
	_, err := cli.Compact(ctx, last, clientv3.WithCompactPhysical())
	require.NoError(t, err)
	before, err := cli.Status(ctx, n.Endpoints()[0])
	require.NoError(t, err)
	resp, err := cli.Defragment(ctx, n.Endpoints()[0])
	require.NoError(t, err)
	require.NotZero(t, resp.Header.Revision, "the answer has etcd's header")
	after, err := cli.Status(ctx, n.Endpoints()[0])
	require.NoError(t, err)
	require.Less(t, after.DbSize, before.DbSize, "the member's file shrank: it was defragmented")
	_, err = cli.Get(ctx, "k")
	require.NoError(t, err, "the member serves after defragmenting")
}

// Once auth is on, only an admin may defragment, as over gRPC.
func TestNodeClientDefragmentNeedsAdmin(t *testing.T) {
	t.Parallel()
	cfg := fast("defragauth")
	cfg.ClientUser, cfg.ClientPassword = "app", "apppw"
	n := start(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	enableAuth(t, n.Client())
	_, err := n.Client().Defragment(ctx, n.Endpoints()[0])
	require.ErrorIs(t, err, rpctypes.ErrPermissionDenied, "a user without the root role may not defragment")
}
