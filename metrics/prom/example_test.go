package prom_test

import (
	"context"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/coordkit/coordkit/lock"
	"github.com/coordkit/coordkit/metrics/prom"
	"github.com/coordkit/coordkit/node"
)

// Report lock metrics to a registry of the program's own, then scrape it
// (here with testutil; a service mounts promhttp.HandlerFor(reg, ...)).
func Example() {
	ctx := context.Background()
	node, err := node.Start(ctx, node.Config{
		ClientURLs: []string{"http://127.0.0.1:0"},
		PeerURLs:   []string{"http://127.0.0.1:0"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer node.Close()

	reg := prometheus.NewRegistry()
	metrics := prom.New(reg)
	mu, err := lock.NewMutex(node.Client(), "jobs/nightly", lock.WithMetrics(metrics))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer mu.Close(ctx)
	held, err := mu.Lock(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	held.Unlock(ctx)

	n, err := testutil.GatherAndCount(reg, "coordkit_lock_acquisitions_total", "coordkit_lock_wait_seconds", "coordkit_lock_hold_seconds")
	fmt.Println(n, err)
	fmt.Println(prom.New(reg).Err())
	// Output:
	// 3 <nil>
	// <nil>
}
