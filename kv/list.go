package kv

import (
	"context"
	"fmt"

	"go.etcd.io/etcd/api/v3/mvccpb"

	"github.com/coordkit/coordkit/internal/watchresume"
)

// List returns every entry of the store, in key order, read at a single
// revision, which it also returns. It reads in pages of about 2 MiB (or
// WithPageSize keys), all at the first page's revision, so a prefix of any
// size stays within message limits and is still one consistent snapshot.
//
// With AtRevision it lists the past (ErrCompacted if etcd no longer has it).
// If values fail to decode, List returns the entries that decoded with an
// error wrapping ErrCodec naming the first bad key.
func (s *Store[T]) List(ctx context.Context, opts ...ReadOption) ([]Entry[T], int64, error) {
	ro, err := readOpts(opts)
	if err != nil {
		return nil, 0, err
	}
	if !ro.serializable {
		ctx = requireLeader(ctx)
	}
	kvs, rev, err := watchresume.List(ctx, s.cli, s.rng, watchresume.ListOptions{
		Revision: ro.rev, PageSize: s.o.pageSize, Serializable: ro.serializable,
	})
	if err != nil {
		return nil, 0, readErr("list", s.prefix, ro.rev, err)
	}
	entries, err := s.entries("list", kvs)
	return entries, rev, err
}

// entries decodes key-values, keeping the good ones and reporting the bad.
func (s *Store[T]) entries(op string, kvs []*mvccpb.KeyValue) ([]Entry[T], error) {
	out := make([]Entry[T], 0, len(kvs))
	var first error
	bad := 0
	for _, kv := range kvs {
		e, err := s.entry(kv)
		if err != nil {
			if first == nil {
				first = err
			}
			bad++
			continue
		}
		out = append(out, e)
	}
	if first != nil {
		return out, fmt.Errorf("kv: %s %q: %d of %d values unreadable, first: %w", op, s.prefix, bad, len(kvs), first)
	}
	return out, nil
}
