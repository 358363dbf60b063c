package kv_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/coordkit/coordkit/coordtest"
	"github.com/coordkit/coordkit/kv"
)

// BenchmarkServerPut measures durable puts (fsync on) over gRPC, through a
// client from coordkit.Connect, against the test's server: embedded 3.7.3,
// or the etcd binary named by COORDKIT_ETCD_BINARY. Sub-benchmarks name
// the server's version, so runs against several servers read side by side:
//
//	for etcd in "" /usr/bin/etcd ~/.cache/coordkit-ci/etcd-v3.6.16/etcd; do
//	  COORDKIT_ETCD_BINARY=$etcd go test -run '^$' -bench Server -benchtime 1s ./kv/ ./lock/
//	done
func BenchmarkServerPut(b *testing.B) {
	s := coordtest.NewServer(b, coordtest.WithFsync(), coordtest.WithQuota(2<<30))
	ctx := context.Background()
	cli := s.NewClient(b)
	store, err := kv.New[string](cli, "kv", kv.WithCodec(kv.StringCodec))
	if err != nil {
		b.Fatal(err)
	}
	puts := []struct {
		name, prefix string
		put          func(key string) error
	}{
		{"raw", "raw/", func(key string) error { _, err := cli.Put(ctx, key, benchValue); return err }},
		{"kv", "", func(key string) error { _, err := store.Put(ctx, key, benchValue); return err }}, // under "kv/"
	}
	for _, writers := range []int{1, 64} {
		for _, p := range puts {
			keys := benchKeys(writers, p.prefix)
			b.Run(fmt.Sprintf("etcd=%s/writers=%d/%s", s.Version(), writers, p.name), func(b *testing.B) {
				parallel(b, writers, func(w, i int) error { return p.put(keys[w][i%benchKeysPerWriter]) })
			})
		}
	}
}
