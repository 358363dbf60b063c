package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"go.etcd.io/etcd/etcdutl/v3/snapshot"
	"go.etcd.io/etcd/server/v3/embed"

	"github.com/coordkit/coordkit/internal/zaplog"
	"github.com/coordkit/coordkit/ops"
)

// ErrSnapshotCorrupt means a snapshot does not match its SHA-256 trailer or
// has none (truncated, altered, or not a snapshot). It is the same error as
// ops.ErrSnapshotCorrupt.
var ErrSnapshotCorrupt = ops.ErrSnapshotCorrupt

// SaveSnapshot streams a point-in-time snapshot of this member's database
// to w, with its integrity hash checked (see ops.SaveSnapshot); what w
// stores can be given to StartFromSnapshot or `etcdutl snapshot
// restore`.
func (n *Node) SaveSnapshot(ctx context.Context, w io.Writer) (ops.SnapshotInfo, error) {
	if err := n.alive("save snapshot"); err != nil {
		return ops.SnapshotInfo{}, err
	}
	info, err := ops.SaveSnapshot(ctx, n.client, w)
	if err != nil {
		return info, fmt.Errorf("node: save snapshot %q: %w", n.Name(), err)
	}
	return info, nil
}

// SaveSnapshotFile saves a snapshot of this member's database to path:
// path ends up holding either the complete, verified snapshot or what it
// held before (see ops.SaveSnapshotFile).
func (n *Node) SaveSnapshotFile(ctx context.Context, path string) (ops.SnapshotInfo, error) {
	if err := n.alive("save snapshot"); err != nil {
		return ops.SnapshotInfo{}, err
	}
	info, err := ops.SaveSnapshotFile(ctx, n.client, path)
	if err != nil {
		return info, fmt.Errorf("node: save snapshot %q to %s: %w", n.Name(), path, err)
	}
	return info, nil
}

// StartFromSnapshot starts a member of a new cluster whose data is
// the snapshot at path (saved by SaveSnapshot, ops.SaveSnapshotFile or
// `etcdctl snapshot save`), what `etcdutl snapshot restore` followed by
// starting etcd does. The member serves the snapshot's keys at their
// revisions; the old cluster's membership is dropped, so cfg decides the
// new one (for a cluster of several, start every member from the same
// snapshot with the same InitialCluster).
//
// The snapshot's hash is checked first. cfg.Dir must hold no member data
// (an empty Dir means an ephemeral one). If the snapshot is refused or the
// member does not start, nothing restored is left in Dir.
//
// Errors wrap ErrSnapshotCorrupt, ErrInvalidArgument (a Dir that already
// holds data, JoinExisting), or what Start returns.
func StartFromSnapshot(ctx context.Context, path string, cfg Config) (*Node, error) {
	if cfg.JoinExisting {
		return nil, fmt.Errorf("node: start %q from snapshot: %w: JoinExisting with a snapshot: a restored member starts a new cluster; add members to it afterwards", cfg.name(), ErrInvalidArgument)
	}
	if _, err := ops.VerifySnapshotFile(path); err != nil {
		return nil, fmt.Errorf("node: start %q from snapshot: %w; take a new snapshot", cfg.name(), err)
	}
	cfg.restoreFrom = path
	return Start(ctx, cfg)
}

// restoreSnapshot writes the member data of the snapshot at path into dir,
// for the member ec describes, and returns how to remove it again. It
// restores into a staging directory inside dir and renames the result into
// place, so a failure leaves nothing behind.
func restoreSnapshot(path, dir string, ec *embed.Config, plan *startPlan) (undo func(), err error) {
	member := filepath.Join(dir, "member")
	if _, err := os.Stat(member); err == nil {
		return nil, fmt.Errorf("%w: Dir %s already holds a member's data; restore into an empty or new Dir", ErrInvalidArgument, dir)
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("restore snapshot into %s: %w", dir, err)
	}
	staging, err := os.MkdirTemp(dir, ".restore-")
	if err != nil {
		return nil, fmt.Errorf("restore snapshot into %s: %w", dir, err)
	}
	defer os.RemoveAll(staging)
	peers := make([]string, len(ec.AdvertisePeerUrls))
	for i, u := range ec.AdvertisePeerUrls {
		peers[i] = u.String()
	}
	lg := zaplog.New(plan.logger, plan.level, nil, nil)
	err = snapshot.NewV3(lg).Restore(snapshot.RestoreConfig{
		SnapshotPath:        path,
		Name:                ec.Name,
		OutputDataDir:       staging,
		PeerURLs:            peers,
		InitialCluster:      ec.InitialCluster,
		InitialClusterToken: ec.InitialClusterToken,
		InitialMmapSize:     uint64(ec.QuotaBackendBytes),
	})
	if err != nil {
		return nil, fmt.Errorf("restore snapshot %s: %w", path, err)
	}
	if err := os.Rename(filepath.Join(staging, "member"), member); err != nil {
		return nil, fmt.Errorf("restore snapshot into %s: %w", dir, err)
	}
	return func() { os.RemoveAll(member) }, nil
}
