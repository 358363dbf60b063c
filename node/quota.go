package node

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/coordkit/coordkit/ops"
)

// ErrNoSpace is the error every coordkit write wraps when etcd refuses it
// because the database reached QuotaBackendBytes (etcd's NOSPACE alarm).
// Reads and deletes keep working. Recover with Node.RecoverNoSpace (or
// ops.RecoverNoSpace for a remote cluster) after deleting what is no
// longer needed, or restart with a larger QuotaBackendBytes. It is the
// same error as ops.ErrNoSpace.
var ErrNoSpace = ops.ErrNoSpace

// Automatic compaction defaults: an embedded node keeps one hour of
// key-value history and compacts away older revisions, every hour, so a
// long-running service's database stays bounded. Watchers that fall more
// than the retention behind resynchronise (kv.Watch does it for you).
const (
	DefaultAutoCompactionMode      = "periodic"
	DefaultAutoCompactionRetention = "1h"
)

// autoCompaction resolves Config's auto-compaction fields to etcd's:
// an empty retention means the defaults, "0" disables compaction (etcd's
// "periodic" with retention "0").
func autoCompaction(cfg *Config) (mode, retention string, err error) {
	mode, retention = cfg.AutoCompactionMode, cfg.AutoCompactionRetention
	if mode == "" {
		mode = DefaultAutoCompactionMode
	}
	switch mode {
	case "periodic":
		if retention == "" {
			retention = DefaultAutoCompactionRetention
		}
		if retention == "0" {
			return "periodic", "0", nil
		}
		d, derr := time.ParseDuration(retention)
		if derr != nil {
			if h, ierr := strconv.Atoi(retention); ierr == nil && h >= 0 {
				d = time.Duration(h) * time.Hour // etcd reads a bare number as hours
			} else {
				return "", "", fmt.Errorf("%w: AutoCompactionRetention %q: periodic retention is a duration like %q, or \"0\" to disable", ErrInvalidArgument, retention, DefaultAutoCompactionRetention)
			}
		}
		if d <= 0 {
			return "periodic", "0", nil
		}
	case "revision":
		if retention == "" {
			return "", "", fmt.Errorf("%w: AutoCompactionMode \"revision\" needs AutoCompactionRetention, the number of revisions to keep, like \"10000\"", ErrInvalidArgument)
		}
		r, perr := strconv.ParseInt(retention, 10, 64)
		if perr != nil || r < 0 {
			return "", "", fmt.Errorf("%w: AutoCompactionRetention %q: revision retention is a count of revisions like \"10000\", or \"0\" to disable", ErrInvalidArgument, retention)
		}
		if r == 0 {
			return "periodic", "0", nil
		}
	default:
		return "", "", fmt.Errorf("%w: AutoCompactionMode %q: want \"periodic\" or \"revision\"", ErrInvalidArgument, mode)
	}
	return mode, retention, nil
}

// RecoverNoSpace reclaims space on this member after the NOSPACE alarm:
// it compacts the history to the current revision, defragments this
// member and disarms the cluster's NOSPACE alarms, so writes are accepted
// again (see ops.RecoverNoSpace). In a cluster of several members, run
// ops.RecoverNoSpace with a client of every member's endpoint instead, so
// each one is defragmented.
func (n *Node) RecoverNoSpace(ctx context.Context) (ops.Reclaimed, error) {
	if err := n.alive("recover from NOSPACE"); err != nil {
		return ops.Reclaimed{}, err
	}
	defrag := func(context.Context) error { return n.etcd.Server.Defragment() }
	r, err := ops.RecoverNoSpace(ctx, n.client, ops.WithDefragment(defrag))
	if err != nil {
		return r, fmt.Errorf("node: recover from NOSPACE %q: %w", n.Name(), err)
	}
	return r, nil
}
