package kv_test

import (
	"context"
	"fmt"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit/coordtest"
	"github.com/coordkit/coordkit/kv"
)

// BenchmarkList: kv.List of 100,000 keys (64-byte values) against one raw
// unpaged Get of the prefix, in process, alternating in one run.
//
//	go test -run '^$' -bench 'List$' -benchtime 10x ./kv/
func BenchmarkList(b *testing.B) {
	n := coordtest.NewNode(b, coordtest.WithQuota(2<<30))
	ctx := context.Background()
	cli := n.Client()
	const keys = 100_000
	ops := make([]clientv3.Op, 0, 128)
	for i := range keys {
		ops = append(ops, clientv3.OpPut(fmt.Sprintf("big/%06d", i), benchValue))
		if len(ops) == cap(ops) || i == keys-1 {
			if _, err := cli.Txn(ctx).Then(ops...).Commit(); err != nil {
				b.Fatal(err)
			}
			ops = ops[:0]
		}
	}
	store, err := kv.New[string](cli, "big", kv.WithCodec(kv.StringCodec))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("raw-get-unpaged", func(b *testing.B) {
		for b.Loop() {
			resp, err := cli.Get(ctx, "big/", clientv3.WithPrefix())
			if err != nil || len(resp.Kvs) != keys {
				b.Fatal(err, len(resp.Kvs))
			}
		}
	})
	b.Run("kv-list", func(b *testing.B) {
		for b.Loop() {
			all, _, err := store.List(ctx)
			if err != nil || len(all) != keys {
				b.Fatal(err, len(all))
			}
		}
	})
	b.Run("kv-list-pages-of-1000", func(b *testing.B) {
		paged, err := kv.New[string](cli, "big", kv.WithCodec(kv.StringCodec), kv.WithPageSize(1000))
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			all, _, err := paged.List(ctx)
			if err != nil || len(all) != keys {
				b.Fatal(err, len(all))
			}
		}
	})
}
