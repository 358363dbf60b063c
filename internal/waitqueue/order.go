package waitqueue

import (
	"context"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit/lease"
)

// LastBefore reads the newest key under pfx created at or before maxRev
// (any, for 0): the nearest key ahead of one created at maxRev + 1.
func LastBefore(pfx string, maxRev int64) clientv3.Op {
	opts := append(clientv3.WithLastCreate(), clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if maxRev > 0 {
		opts = append(opts, clientv3.WithMaxCreateRev(maxRev))
	}
	return clientv3.OpGet(pfx, opts...)
}

// WaitForLast reads a LastBefore response: the turn has come when no key is
// ahead, and otherwise the nearest one is watched, as etcd's Mutex and
// Election do: no herd when the front of the queue leaves.
func WaitForLast(r *pb.RangeResponse) (bool, Target) {
	if len(r.Kvs) == 0 {
		return true, Target{}
	}
	return false, Target{Key: string(r.Kvs[0].Key)}
}

// WaitGone blocks until key, created at rev and last read at revision
// read, is deleted or replaced: a key of lease l that another handle of
// this process claims. The wait ends early, with an error wrapping ErrGone
// and the lease's error, if l is lost, or with ctx's cause.
func WaitGone(ctx context.Context, cli *clientv3.Client, l *lease.Lease, key string, rev, read int64) error {
	next := Target{Key: key}
	w := Waiter{Cli: cli, Lease: l, Check: func(ctx context.Context) (Turn, error) {
		resp, err := cli.Get(ctx, key)
		if err != nil {
			return Turn{}, err
		}
		gone := len(resp.Kvs) == 0 || resp.Kvs[0].CreateRevision != rev
		return Turn{Held: gone, Next: next, Rev: resp.Header.Revision}, nil
	}}
	return w.Wait(ctx, Turn{Next: next, Rev: read})
}
