package lease_test

import (
	"context"
	"testing"
	"time"

	"github.com/coordkit/coordkit/coordtest"
	"github.com/coordkit/coordkit/lease"
)

// Grant and revoke through coordkit against raw clientv3 on the same node
// (in-process client, fsync on).
func BenchmarkGrantRevoke(b *testing.B) {
	n := coordtest.NewNode(b, coordtest.WithFsync())
	cli := n.Client()
	ctx := context.Background()
	b.Run("coordkit", func(b *testing.B) {
		for b.Loop() {
			l, err := lease.Grant(ctx, cli, 10*time.Second)
			if err != nil {
				b.Fatal(err)
			}
			if err := l.Revoke(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("raw-clientv3", func(b *testing.B) {
		for b.Loop() {
			r, err := cli.Grant(ctx, 10)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := cli.Revoke(ctx, r.ID); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// One renewal: coordkit's KeepAliveOnce (which also advances the local
// deadline) against raw clientv3.KeepAliveOnce.
func BenchmarkKeepAliveOnce(b *testing.B) {
	n := coordtest.NewNode(b, coordtest.WithFsync())
	cli := n.Client()
	ctx := context.Background()
	l, err := lease.Grant(ctx, cli, 60*time.Second)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Revoke(ctx)
	b.Run("coordkit", func(b *testing.B) {
		for b.Loop() {
			if _, err := l.KeepAliveOnce(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("raw-clientv3", func(b *testing.B) {
		for b.Loop() {
			if _, err := cli.KeepAliveOnce(ctx, l.ID()); err != nil {
				b.Fatal(err)
			}
		}
	})
}
