package interop_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/coordkit/coordkit/coordtest"
	"github.com/coordkit/coordkit/node"
	"github.com/coordkit/coordkit/ops"
)

// Snapshots are etcd's format both ways: one `etcdctl snapshot save` wrote
// passes coordkit's hash check and starts a node; one coordkit saved is
// read by `etcdctl snapshot status` with the same hash and revision.
func TestSnapshotsInteropWithEtcdctl(t *testing.T) {
	n := coordtest.NewNode(t)
	ctx := context.Background()
	for _, k := range []string{"a", "b", "c"} {
		_, err := n.Client().Put(ctx, k, "v-"+k)
		require.NoError(t, err)
	}
	dir := t.TempDir()
	theirs := filepath.Join(dir, "etcdctl.db")
	etcdctl(t, n.Endpoints()[0], "snapshot", "save", theirs)
	_, err := ops.VerifySnapshotFile(theirs)
	require.NoError(t, err)
	r, err := node.StartFromSnapshot(ctx, theirs, node.Config{
		Name: "restored", ClientURLs: []string{"http://127.0.0.1:0"}, PeerURLs: []string{"http://127.0.0.1:0"}, UnsafeNoFsync: true,
	})
	require.NoError(t, err)
	defer r.Close()
	got, err := r.Client().Get(ctx, "b")
	require.NoError(t, err)
	require.Equal(t, "v-b", string(got.Kvs[0].Value))

	ours := filepath.Join(dir, "coordkit.db")
	_, err = n.SaveSnapshotFile(ctx, ours)
	require.NoError(t, err)
	st, err := n.Status(ctx)
	require.NoError(t, err)
	out := etcdctl(t, n.Endpoints()[0], "snapshot", "status", ours, "-w", "table")
	require.Contains(t, out, " "+itoa(st.Revision)+" ", "etcdctl reads the snapshot's revision: %s", out)
}
