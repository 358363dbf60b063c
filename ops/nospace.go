package ops

import (
	"context"
	"errors"
	"fmt"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit/internal/errs"
)

// Reclaimed reports what RecoverNoSpace did.
type Reclaimed struct {
	// Revision is the revision the key-value history was compacted to.
	Revision int64
	// Defragmented lists the endpoints defragmented; "" stands for the
	// member WithDefragment defragmented.
	Defragmented []string
	// Disarmed is the number of NOSPACE alarms disarmed.
	Disarmed int
}

// RecoverNoSpace reclaims space after etcd raised its NOSPACE alarm, as an
// operator would with etcdctl: it compacts the history up to the current
// revision, defragments every endpoint cli was configured with, and disarms the NOSPACE alarms, so that
// writes are accepted again.
//
// It frees the space taken by old revisions. If the live data itself fills
// the quota, delete keys first (deletes are allowed under the alarm) or
// raise the quota: otherwise the next writes raise the alarm again.
// Defragmentation blocks the member's reads and writes while it runs; give
// cli every member's endpoint so each one is defragmented, one at a time.
func RecoverNoSpace(ctx context.Context, cli *clientv3.Client, opts ...RecoverOption) (Reclaimed, error) {
	if cli == nil {
		return Reclaimed{}, fmt.Errorf("ops: recover from NOSPACE: %w", errs.NilClient)
	}
	var o recoverOptions
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	var out Reclaimed
	endpoints := cli.Endpoints()
	if len(endpoints) == 0 && o.defrag == nil {
		// etcd's in-process client panics on Defragment (v3.7.3).
		return out, fmt.Errorf("ops: recover from NOSPACE: %w: an in-process client cannot defragment its member; use node.Node.RecoverNoSpace, or a client with the members' endpoints", ErrInvalidArgument)
	}
	resp, err := cli.Get(ctx, "\x00", clientv3.WithCountOnly())
	if err != nil {
		return out, fmt.Errorf("ops: recover from NOSPACE: read the current revision: %w", err)
	}
	out.Revision = resp.Header.Revision
	if _, err := cli.Compact(ctx, out.Revision, clientv3.WithCompactPhysical()); err != nil && !errors.Is(err, rpctypes.ErrCompacted) {
		return out, fmt.Errorf("ops: recover from NOSPACE: compact to revision %d: %w", out.Revision, err)
	}
	if o.defrag != nil {
		if err := o.defrag(ctx); err != nil {
			return out, fmt.Errorf("ops: recover from NOSPACE: defragment: %w", err)
		}
		endpoints = nil
		out.Defragmented = append(out.Defragmented, "")
	}
	for _, ep := range endpoints {
		if _, err := cli.Defragment(ctx, ep); err != nil {
			return out, fmt.Errorf("ops: recover from NOSPACE: defragment %q: %w", ep, err)
		}
		out.Defragmented = append(out.Defragmented, ep)
	}
	if err := defragmentLagging(ctx, cli, endpoints); err != nil {
		return out, fmt.Errorf("ops: recover from NOSPACE: %w", err)
	}
	alarms, err := cli.AlarmList(ctx)
	if err != nil {
		return out, fmt.Errorf("ops: recover from NOSPACE: list alarms: %w", err)
	}
	for _, a := range alarms.Alarms {
		if a.Alarm != pb.AlarmType_NOSPACE {
			continue
		}
		if _, err := cli.AlarmDisarm(ctx, &clientv3.AlarmMember{MemberID: a.MemberID, Alarm: a.Alarm}); err != nil {
			return out, fmt.Errorf("ops: recover from NOSPACE: disarm the alarm of member %x: %w", a.MemberID, err)
		}
		out.Disarmed++
	}
	return out, nil
}

// RecoverOption adjusts RecoverNoSpace.
type RecoverOption func(*recoverOptions)

type recoverOptions struct {
	defrag func(context.Context) error
}

// WithDefragment makes RecoverNoSpace defragment with f instead of
// defragmenting cli's endpoints: for a member reached in-process, whose
// client cannot defragment it (node.Node.RecoverNoSpace passes the
// member's own).
func WithDefragment(f func(context.Context) error) RecoverOption {
	return func(o *recoverOptions) { o.defrag = f }
}

// Alarms returns the alarms raised in the cluster, as `etcdctl alarm list`
// shows them ("NOSPACE", "CORRUPT"), keyed by member ID.
func Alarms(ctx context.Context, cli *clientv3.Client) (map[uint64][]string, error) {
	if cli == nil {
		return nil, fmt.Errorf("ops: list alarms: %w", errs.NilClient)
	}
	resp, err := cli.AlarmList(ctx)
	if err != nil {
		return nil, fmt.Errorf("ops: list alarms: %w", err)
	}
	out := map[uint64][]string{}
	for _, a := range resp.Alarms {
		if a.Alarm == pb.AlarmType_NONE {
			continue
		}
		out[a.MemberID] = append(out[a.MemberID], a.Alarm.String())
	}
	return out, nil
}

// defragmentLagging defragments again the members whose data in use is
// still far above the smallest member's: members hold the same data, so
// such a member had not yet applied the compaction, or was still freeing
// its pages (etcd compacts in batches, in the background), when it was
// defragmented. Up to 5 passes, 100 ms apart.
func defragmentLagging(ctx context.Context, cli *clientv3.Client, endpoints []string) error {
	for pass := 0; pass < 5 && len(endpoints) > 1; pass++ {
		inUse := make([]int64, len(endpoints))
		smallest := int64(-1)
		for i, ep := range endpoints {
			st, err := cli.Status(ctx, ep)
			if err != nil {
				return fmt.Errorf("status of %q: %w", ep, err)
			}
			inUse[i] = st.DbSizeInUse
			if smallest < 0 || st.DbSizeInUse < smallest {
				smallest = st.DbSizeInUse
			}
		}
		var lagging []string
		for i, ep := range endpoints {
			if inUse[i] > 2*smallest && inUse[i]-smallest > 256<<10 {
				lagging = append(lagging, ep)
			}
		}
		if len(lagging) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		for _, ep := range lagging {
			if _, err := cli.Defragment(ctx, ep); err != nil {
				return fmt.Errorf("defragment %q again: %w", ep, err)
			}
		}
	}
	return nil
}
