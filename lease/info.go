package lease

import (
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit/internal/errs"
)

// Info is what `etcdctl lease timetolive --keys` shows.
type Info struct {
	ID         clientv3.LeaseID
	GrantedTTL time.Duration // the TTL etcd granted
	Remaining  time.Duration // time left; negative or zero once expired
	Keys       []string      // keys attached, when asked for
}

// TimeToLive asks etcd for the lease's granted TTL, remaining time and,
// with withKeys, the keys attached to it. An expired lease returns an error
// wrapping ErrExpired.
func (l *Lease) TimeToLive(ctx context.Context, withKeys bool) (Info, error) {
	return TimeToLive(ctx, l.cli, l.id, withKeys)
}

// TimeToLive is Lease.TimeToLive for any lease ID.
func TimeToLive(ctx context.Context, cli *clientv3.Client, id clientv3.LeaseID, withKeys bool) (Info, error) {
	if cli == nil {
		return Info{}, fmt.Errorf("lease: time to live of %x: %w", int64(id), errs.NilClient)
	}
	var opts []clientv3.LeaseOption
	if withKeys {
		opts = append(opts, clientv3.WithAttachedKeys())
	}
	resp, err := cli.TimeToLive(ctx, id, opts...)
	if err != nil {
		return Info{}, fmt.Errorf("lease: time to live of %x: %w", int64(id), err)
	}
	if resp.TTL == -1 {
		return Info{}, fmt.Errorf("lease: time to live of %x: %w", int64(id), ErrExpired)
	}
	info := Info{ID: id, GrantedTTL: time.Duration(resp.GrantedTTL) * time.Second, Remaining: time.Duration(resp.TTL) * time.Second}
	for _, k := range resp.Keys {
		info.Keys = append(info.Keys, string(k))
	}
	return info, nil
}

// List returns the IDs of every lease etcd holds, like `etcdctl lease list`.
func List(ctx context.Context, cli *clientv3.Client) ([]clientv3.LeaseID, error) {
	if cli == nil {
		return nil, fmt.Errorf("lease: list: %w", errs.NilClient)
	}
	resp, err := cli.Leases(ctx)
	if err != nil {
		return nil, fmt.Errorf("lease: list: %w", err)
	}
	ids := make([]clientv3.LeaseID, len(resp.Leases))
	for i, s := range resp.Leases {
		ids[i] = s.ID
	}
	return ids, nil
}
