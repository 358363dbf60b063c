package watchresume

import (
	"context"
	"errors"
	"fmt"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// DefaultPageSize is the number of keys of List's first page when no page
// size is given; later pages are sized to DefaultPageBytes from the size of
// the keys read so far.
const DefaultPageSize = 1000

// DefaultPageBytes is the response size List aims its pages at when no page
// size is given: half of gRPC's default 4 MiB message limit, so a page fits
// even a client that keeps that default, while 100,000 small keys take a
// handful of requests rather than a hundred.
const DefaultPageBytes = 2 << 20

// Range is the key range [Key, End), with End as in clientv3.WithRange:
// empty for the single key Key, "\x00" for every key from Key on.
type Range struct {
	Key, End string
}

// Prefix returns the range of every key that starts with prefix; the empty
// prefix is the whole keyspace.
func Prefix(prefix string) Range {
	if prefix == "" {
		return Range{Key: "\x00", End: "\x00"}
	}
	return Range{Key: prefix, End: clientv3.GetPrefixRangeEnd(prefix)}
}

// ListOptions tune List.
type ListOptions struct {
	// Revision to read at; 0 reads the current revision.
	Revision int64
	// PageSize is the number of keys per request; 0 sizes pages by bytes
	// (PageBytes).
	PageSize int64
	// PageBytes is, with PageSize 0, the response size pages aim at: the
	// first page has DefaultPageSize keys, each later one as many keys as
	// fit PageBytes at the mean size of those read so far. 0 means
	// DefaultPageBytes.
	PageBytes int
	// Serializable reads from the member the client talks to, without a
	// round of consensus: faster, possibly stale.
	Serializable bool
}

// kvOverhead is about what a key-value's revisions, version and lease add
// to its key and value in a response.
const kvOverhead = 32

// maxListRestarts bounds how often List starts over because a compaction
// overtook the revision it had picked itself.
const maxListRestarts = 3

// List reads every key in r at a single revision, page by page, and returns
// the keys in order with that revision. With opts.Revision 0 the revision is
// the one the first page was read at; if a compaction passes it before the
// last page, List starts over at a new one. With an explicit revision a
// compaction is an error (wrapping rpctypes.ErrCompacted).
func List(ctx context.Context, cli *clientv3.Client, r Range, opts ListOptions) ([]*mvccpb.KeyValue, int64, error) {
	if opts.PageBytes <= 0 {
		opts.PageBytes = DefaultPageBytes
	}
	for attempt := 0; ; attempt++ {
		kvs, rev, err := list(ctx, cli, r, opts)
		if err != nil && opts.Revision == 0 && rev != 0 && attempt < maxListRestarts &&
			errors.Is(err, rpctypes.ErrCompacted) {
			continue // a compaction overtook our own revision: start over
		}
		return kvs, rev, err
	}
}

func list(ctx context.Context, cli *clientv3.Client, r Range, opts ListOptions) ([]*mvccpb.KeyValue, int64, error) {
	rev := opts.Revision
	key := r.Key
	var out []*mvccpb.KeyValue
	limit, bytes := opts.PageSize, 0 // bytes: of the keys read so far
	if limit <= 0 {
		limit = DefaultPageSize
	}
	for page := 0; ; page++ {
		ops := []clientv3.OpOption{clientv3.WithLimit(limit), clientv3.WithRev(rev)}
		if r.End != "" {
			ops = append(ops, clientv3.WithRange(r.End))
		}
		if opts.Serializable {
			ops = append(ops, clientv3.WithSerializable())
		}
		resp, err := cli.Get(ctx, key, ops...)
		if err != nil {
			return nil, rev, fmt.Errorf("page %d at revision %d: %w", page+1, rev, err)
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		if out == nil {
			// Count is every key of the range at rev: one allocation.
			out = make([]*mvccpb.KeyValue, 0, max(int64(len(resp.Kvs)), min(resp.Count, 1<<24)))
		}
		out = append(out, resp.Kvs...)
		if !resp.More || len(resp.Kvs) == 0 || r.End == "" {
			return out, rev, nil
		}
		if opts.PageSize <= 0 {
			for _, kv := range resp.Kvs {
				bytes += len(kv.Key) + len(kv.Value) + kvOverhead
			}
			mean := max(1, bytes/len(out))
			limit = int64(max(1, opts.PageBytes/mean))
		}
		key = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}
