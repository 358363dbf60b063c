package lease_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit/lease"
	"github.com/coordkit/coordkit/node"
)

func startNode() (*node.Node, error) {
	return node.Start(context.Background(), node.Config{
		ClientURLs:    []string{"http://127.0.0.1:0"},
		PeerURLs:      []string{"http://127.0.0.1:0"},
		UnsafeNoFsync: true,
	})
}

// Grant a lease, keep it alive in the background, attach keys to it (like
// `etcdctl put name eric --lease ID`) and inspect it (like `etcdctl lease
// timetolive --keys`).
func Example() {
	node, err := startNode()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer node.Close()
	ctx := context.Background()
	cli := node.Client()

	l, err := lease.Grant(ctx, cli, 10*time.Second)
	if err != nil {
		fmt.Println(err)
		return
	}
	l.KeepAlive(ctx)
	defer l.Revoke(ctx)

	if _, err := cli.Put(ctx, "name", "eric", clientv3.WithLease(l.ID())); err != nil {
		fmt.Println(err)
		return
	}
	info, err := l.TimeToLive(ctx, true)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("granted %v, keys %v\n", info.GrantedTTL, info.Keys)
	// Output: granted 10s, keys [name]
}

// Done and Err tell a holder the moment its lease is gone, and why.
func ExampleLease_Done() {
	node, err := startNode()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer node.Close()
	ctx := context.Background()

	l, err := lease.Grant(ctx, node.Client(), 5*time.Second)
	if err != nil {
		fmt.Println(err)
		return
	}
	l.KeepAlive(ctx)
	l.Revoke(ctx) // or: it expired, or someone ran `etcdctl lease revoke`

	<-l.Done()
	fmt.Println("revoked:", errors.Is(l.Err(), lease.ErrRevoked))
	// Output: revoked: true
}
