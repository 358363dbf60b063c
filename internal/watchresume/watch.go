package watchresume

import (
	"context"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Watch opens an etcd watch of r that delivers every change after rev, the
// revision up to which the caller has every change, with opts added (for
// example clientv3.WithPrevKV). ctx is the watch's context, as for
// clientv3's Watch.
//
// The watch starts at rev itself, not rev+1, and the caller drops the
// events at rev and below with Fresh. A start of rev+1 is ahead of an idle
// store, and etcd 3.6 and later answer no progress request on a gRPC watch
// stream while any of its watchers starts ahead of the store: one such
// watcher silences progress notifications for every watch of the client
// (discovery judges liveness by them) until something is written. A start
// at rev never is ahead.
//
// compacted is the compaction revision etcd reported for the previous
// attempt from the same rev, 0 if none: when it is rev+1, rev itself is
// gone but rev+1 is not, and the watch starts at rev+1 (not ahead then:
// etcd compacts only revisions it has).
func Watch(ctx context.Context, cli *clientv3.Client, r Range, rev, compacted int64, opts ...clientv3.OpOption) clientv3.WatchChan {
	start := rev
	if compacted > rev {
		start = rev + 1
	}
	all := make([]clientv3.OpOption, 0, len(opts)+2)
	all = append(all, clientv3.WithRev(max(start, 1)))
	if r.End != "" {
		all = append(all, clientv3.WithRange(r.End))
	}
	return cli.Watch(ctx, r.Key, append(all, opts...)...)
}

// Fresh drops the events at or below rev: a watch opened by Watch, or
// re-opened, repeats them.
func Fresh(evs []*clientv3.Event, rev int64) []*clientv3.Event {
	for i, ev := range evs {
		if ev.Kv.ModRevision > rev {
			return evs[i:]
		}
	}
	return nil
}
