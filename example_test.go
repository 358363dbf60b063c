package coordkit_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/coordkit/coordkit"
	"github.com/coordkit/coordkit/node"
)

// Connect to a running cluster (here: an embedded member standing in for
// one) and use the plain etcd client it returns.
func ExampleConnect() {
	ctx := context.Background()
	n, err := node.Start(ctx, node.Config{
		ClientURLs: []string{"http://127.0.0.1:0"},
		PeerURLs:   []string{"http://127.0.0.1:0"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer n.Close()

	cli, err := coordkit.Connect(ctx, coordkit.ClientConfig{Endpoints: n.Endpoints(), DialTimeout: 5 * time.Second})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cli.Close()
	if _, err := cli.Put(ctx, "name", "eric"); err != nil {
		fmt.Println(err)
		return
	}
	members, err := coordkit.Members(ctx, cli)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(members), "member")
	// Output: 1 member
}

// ClientConfigFromEnv reads the variables etcdctl reads, so a program can
// be pointed at a cluster the way etcdctl is.
func ExampleClientConfigFromEnv() {
	os.Setenv("ETCDCTL_ENDPOINTS", "10.0.0.1:2379,10.0.0.2:2379")
	os.Setenv("ETCDCTL_DIAL_TIMEOUT", "3s")
	defer os.Unsetenv("ETCDCTL_ENDPOINTS")
	defer os.Unsetenv("ETCDCTL_DIAL_TIMEOUT")

	cfg, err := coordkit.ClientConfigFromEnv()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cfg.Endpoints, cfg.DialTimeout)
	// Then: cli, err := coordkit.Connect(ctx, cfg)
	// Output: [10.0.0.1:2379 10.0.0.2:2379] 3s
}
