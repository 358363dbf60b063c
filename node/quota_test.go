package node_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit"
	"github.com/coordkit/coordkit/node"
)

// Auto-compaction is on by default (periodic, one hour), "0" turns it off,
// and bad values are refused before anything starts.
func TestAutoCompactionDefaults(t *testing.T) {
	t.Parallel()
	def := start(t, fast("default-compaction"))
	sc := def.Etcd().Server.Cfg
	require.Equal(t, node.DefaultAutoCompactionMode, sc.AutoCompactionMode)
	require.Equal(t, time.Hour, sc.AutoCompactionRetention)

	cfg := fast("no-compaction")
	cfg.AutoCompactionRetention = "0"
	require.Zero(t, start(t, cfg).Etcd().Server.Cfg.AutoCompactionRetention)

	for _, bad := range []struct{ mode, retention string }{
		{"revision", ""}, {"revision", "1h"}, {"periodic", "soon"}, {"weekly", "1h"}, {"revision", "-3"},
	} {
		cfg := fast("bad")
		cfg.AutoCompactionMode, cfg.AutoCompactionRetention = bad.mode, bad.retention
		_, err := node.Start(context.Background(), cfg)
		require.ErrorIs(t, err, coordkit.ErrInvalidArgument, "%+v", bad)
	}
}

// A node compacts old revisions by itself through the same setting the
// default uses; a one-second retention makes it observable in a test.
func TestAutoCompactionCompactsOldRevisions(t *testing.T) {
	t.Parallel()
	cfg := fast("compacting")
	cfg.AutoCompactionRetention = "1s"
	n := start(t, cfg)
	ctx := context.Background()
	first, err := n.Client().Put(ctx, "k", "v0")
	require.NoError(t, err)
	for i := 1; i < 10; i++ {
		_, err := n.Client().Put(ctx, "k", "v")
		require.NoError(t, err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err := n.Client().Get(ctx, "k", clientv3.WithRev(first.Header.Revision))
		if err != nil {
			require.ErrorIs(t, err, rpctypes.ErrCompacted)
			break
		}
		require.True(t, time.Now().Before(deadline), "revision %d never compacted", first.Header.Revision)
		// Keep the revision moving so the compactor has a newer one to keep.
		_, err = n.Client().Put(ctx, "tick", "t")
		require.NoError(t, err)
		time.Sleep(50 * time.Millisecond) // polling a condition with a deadline
	}
}

// Node.RecoverNoSpace brings a full embedded node back to accepting writes.
func TestNodeRecoverNoSpace(t *testing.T) {
	t.Parallel()
	cfg := fast("full")
	cfg.QuotaBackendBytes = 1 << 20
	n := start(t, cfg)
	ctx := context.Background()
	big := strings.Repeat("x", 64<<10)
	var err error
	for i := 0; i < 1000 && err == nil; i++ {
		_, err = n.Client().Put(ctx, "big", big)
	}
	require.ErrorIs(t, err, rpctypes.ErrNoSpace)
	_, err = n.Client().Put(ctx, "small", "v")
	require.Error(t, err)

	got, err := n.RecoverNoSpace(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, got.Disarmed)
	require.Equal(t, []string{""}, got.Defragmented)
	st, err := n.Status(ctx)
	require.NoError(t, err)
	require.Less(t, st.DBSize, int64(1<<20))
	_, err = n.Client().Put(ctx, "small", "v")
	require.NoError(t, err)
}
