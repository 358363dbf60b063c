package node_test

import (
	"context"
	"fmt"
	"time"

	"github.com/coordkit/coordkit"
	"github.com/coordkit/coordkit/node"
)

// Three members of one cluster in this process, on free ports.
func ExampleStartCluster() {
	ctx := context.Background()
	nodes, err := node.StartCluster(ctx, 3, node.Config{Name: "m"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer func() {
		for _, n := range nodes {
			n.Close()
		}
	}()
	if _, err := nodes[0].Client().Put(ctx, "greeting", "hello"); err != nil {
		fmt.Println(err)
		return
	}
	resp, err := nodes[2].Client().Get(ctx, "greeting")
	if err != nil {
		fmt.Println(err)
		return
	}
	ms, _ := nodes[1].Members(ctx)
	fmt.Printf("%d members; m2 reads %s\n", len(ms), resp.Kvs[0].Value)
	// Output: 3 members; m2 reads hello
}

// Members started one after another, as separate processes are: the first
// bootstraps alone, the next joins through its client endpoint, then leaves
// again.
func ExampleConfig_join() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	free := []string{"http://127.0.0.1:0"}

	// Bootstrap: a cluster of one.
	first, err := node.Start(ctx, node.Config{Name: "a", ClientURLs: free, PeerURLs: free})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer first.Close()

	// Join: added as a learner, started, caught up, promoted.
	second, err := node.Start(ctx, node.Config{
		Name: "b", ClientURLs: free, PeerURLs: free,
		Join: &coordkit.ClientConfig{Endpoints: first.Endpoints()},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer second.Close()
	ms, _ := coordkit.Members(ctx, first.Client())
	fmt.Println("members:", len(ms), "learner:", ms[0].IsLearner || ms[1].IsLearner)

	// Remove: the member leaves (etcd may make it wait a few seconds after
	// a join, to protect the quorum) and closes.
	if err := second.Leave(ctx); err != nil {
		fmt.Println(err)
		return
	}
	ms, _ = coordkit.Members(ctx, first.Client())
	fmt.Println("members:", len(ms))

	// The last member cannot be removed, only closed.
	fmt.Println(coordkit.RemoveMember(ctx, first.Client(), first.ID()) != nil)
	// Output:
	// members: 2 learner: false
	// members: 1
	// true
}

// A lease TTL checked against an embedded member's election timeout.
func ExampleNode_CheckLeaseTTL() {
	free := []string{"http://127.0.0.1:0"}
	n, err := node.Start(context.Background(), node.Config{Name: "ttl", ClientURLs: free, PeerURLs: free})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer n.Close()
	fmt.Println(coordkit.MinLeaseTTL(n.ElectionTimeout()))
	fmt.Println(n.CheckLeaseTTL(2 * time.Second))
	// Output:
	// 4s
	// coordkit: check lease TTL: invalid lease TTL: TTL 2s < 4s (3 × election timeout 1s + 1 s): a leader change takes up to 2 × 1s, and a keep-alive renewing every TTL/3 has only 2/3 of the TTL to get through it; use a TTL of at least 4s
}
