package node_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit"
	"github.com/coordkit/coordkit/node"
	"github.com/coordkit/coordkit/ops"
)

// fill writes keys with a history (overwrites and a delete) and returns
// what a full read sees.
func fill(t *testing.T, cli *clientv3.Client) *clientv3.GetResponse {
	t.Helper()
	ctx := context.Background()
	for i := 0; i < 50; i++ {
		_, err := cli.Put(ctx, fmt.Sprintf("k/%02d", i%20), fmt.Sprintf("v%d", i))
		require.NoError(t, err)
	}
	_, err := cli.Delete(ctx, "k/07")
	require.NoError(t, err)
	resp, err := cli.Get(ctx, "k/", clientv3.WithPrefix())
	require.NoError(t, err)
	return resp
}

func requireSameData(t *testing.T, want *clientv3.GetResponse, cli *clientv3.Client) {
	t.Helper()
	got, err := cli.Get(context.Background(), "k/", clientv3.WithPrefix())
	require.NoError(t, err)
	require.Equal(t, want.Header.Revision, got.Header.Revision, "the restored node continues at the same revision")
	require.Equal(t, len(want.Kvs), len(got.Kvs))
	for i := range want.Kvs {
		w, g := want.Kvs[i], got.Kvs[i]
		require.Equal(t, string(w.Key), string(g.Key))
		require.Equal(t, string(w.Value), string(g.Value))
		require.Equal(t, w.CreateRevision, g.CreateRevision)
		require.Equal(t, w.ModRevision, g.ModRevision)
		require.Equal(t, w.Version, g.Version)
	}
}

// Data written, snapshot saved, node destroyed with its directory: the
// node started from the snapshot serves the same keys at the same
// revisions, history included, and accepts writes.
func TestSnapshotSaveAndRestore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := fast("origin")
	cfg.Dir = t.TempDir()
	n, err := node.Start(ctx, cfg)
	require.NoError(t, err)
	want := fill(t, n.Client())
	path := filepath.Join(t.TempDir(), "backup.db")
	info, err := n.SaveSnapshotFile(ctx, path)
	require.NoError(t, err)
	st, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, st.Size(), info.Size)
	sum, err := ops.VerifySnapshotFile(path)
	require.NoError(t, err)
	require.Equal(t, info.SHA256, sum)
	require.NoError(t, n.Close())
	require.NoError(t, os.RemoveAll(cfg.Dir))

	rcfg := fast("restored")
	rcfg.Dir = filepath.Join(t.TempDir(), "new")
	r, err := node.StartFromSnapshot(ctx, path, rcfg)
	require.NoError(t, err)
	defer r.Close()
	requireSameData(t, want, r.Client())
	old, err := r.Client().Get(ctx, "k/00", clientv3.WithRev(want.Kvs[0].CreateRevision))
	require.NoError(t, err, "history before the snapshot is kept")
	require.Len(t, old.Kvs, 1)
	require.Equal(t, "v0", string(old.Kvs[0].Value))
	ms, err := r.Members(ctx)
	require.NoError(t, err)
	require.Len(t, ms, 1, "the old cluster's membership is dropped")
	require.Equal(t, "restored", ms[0].Name)
	_, err = r.Client().Put(ctx, "after", "restore")
	require.NoError(t, err)
}

// A snapshot of a remote cluster saved through a gRPC client into an
// io.Writer is the same database a node restores.
func TestSnapshotOfRemoteClusterToWriter(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	n := start(t, fast("remote"))
	want := fill(t, n.Client())
	cli, err := coordkit.Connect(ctx, coordkit.ClientConfig{Endpoints: n.Endpoints()})
	require.NoError(t, err)
	defer cli.Close()
	var buf bytes.Buffer
	info, err := ops.SaveSnapshot(ctx, cli, &buf)
	require.NoError(t, err)
	require.Equal(t, int64(buf.Len()), info.Size)

	path := filepath.Join(t.TempDir(), "remote.db")
	require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o600))
	r, err := node.StartFromSnapshot(ctx, path, fast("from-remote"))
	require.NoError(t, err)
	defer r.Close()
	requireSameData(t, want, r.Client())
}

// A truncated or altered snapshot is refused before anything is written,
// and a restore whose member then fails to start leaves nothing behind.
func TestSnapshotRefusedLeavesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	n := start(t, fast("source"))
	fill(t, n.Client())
	dir := t.TempDir()
	good := filepath.Join(dir, "good.db")
	_, err := n.SaveSnapshotFile(ctx, good)
	require.NoError(t, err)
	data, err := os.ReadFile(good)
	require.NoError(t, err)

	flipped := append([]byte(nil), data...)
	flipped[len(flipped)/2] ^= 0x40
	noTrailer := data[:len(data)-32]
	for name, bad := range map[string][]byte{
		"truncated":  data[:len(data)/2],
		"no-trailer": noTrailer,
		"flipped":    flipped,
		"empty":      nil,
	} {
		path := filepath.Join(dir, name+".db")
		require.NoError(t, os.WriteFile(path, bad, 0o600))
		_, err := ops.VerifySnapshotFile(path)
		require.ErrorIs(t, err, ops.ErrSnapshotCorrupt, name)
		cfg := fast("bad-" + name)
		cfg.Dir = filepath.Join(dir, "dir-"+name)
		_, err = node.StartFromSnapshot(ctx, path, cfg)
		require.ErrorIs(t, err, node.ErrSnapshotCorrupt, name)
		requireNoMemberData(t, cfg.Dir)
	}

	// The snapshot is good but the member cannot start (its port is
	// taken): the restored data is removed again.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()
	cfg := fast("port-taken")
	cfg.Dir = filepath.Join(dir, "dir-port")
	cfg.ClientURLs = []string{"http://" + busy.Addr().String()}
	_, err = node.StartFromSnapshot(ctx, good, cfg)
	require.ErrorIs(t, err, node.ErrPortInUse)
	requireNoMemberData(t, cfg.Dir)

	// A Dir holding a member's data is never overwritten.
	cfg = fast("occupied")
	cfg.Dir = filepath.Join(dir, "dir-occupied")
	occupied, err := node.Start(ctx, cfg)
	require.NoError(t, err)
	_, err = occupied.Client().Put(ctx, "mine", "keep")
	require.NoError(t, err)
	require.NoError(t, occupied.Close())
	_, err = node.StartFromSnapshot(ctx, good, cfg)
	require.ErrorIs(t, err, coordkit.ErrInvalidArgument)
	again := start(t, cfg)
	got, err := again.Client().Get(ctx, "mine")
	require.NoError(t, err)
	require.Equal(t, "keep", string(got.Kvs[0].Value))
}

// SaveSnapshotFile leaves the destination untouched when the save fails.
func TestSaveSnapshotFileFailureLeavesDestination(t *testing.T) {
	t.Parallel()
	n := start(t, fast("cancelled"))
	fill(t, n.Client())
	dir := t.TempDir()
	path := filepath.Join(dir, "backup.db")
	require.NoError(t, os.WriteFile(path, []byte("previous backup"), 0o600))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := n.SaveSnapshotFile(ctx, path)
	require.ErrorIs(t, err, context.Canceled)
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, "previous backup", string(got))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "no partial file is left")

	_, err = n.SaveSnapshot(context.Background(), failingWriter{})
	require.ErrorIs(t, err, errDiskFull)
}

var errDiskFull = errors.New("disk full")

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errDiskFull }

func requireNoMemberData(t *testing.T, dir string) {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		require.NotEqual(t, "member", e.Name(), "restored data left in %s", dir)
		require.NotContains(t, e.Name(), ".restore-", "staging data left in %s", dir)
	}
}
