// Command clientonly is a program built on coordkit's client side only: the
// root package and every client package. deps_test.go builds it and checks
// with `go version -m` that etcd's server is not linked in, so programs
// that only connect to a cluster stay small.
//
// Run, it connects to the cluster named by etcdctl's ETCDCTL_* variables and
// lists its members.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/coordkit/coordkit"
	"github.com/coordkit/coordkit/discovery"
	"github.com/coordkit/coordkit/election"
	"github.com/coordkit/coordkit/kv"
	"github.com/coordkit/coordkit/lease"
	"github.com/coordkit/coordkit/lock"
	"github.com/coordkit/coordkit/metrics"
	"github.com/coordkit/coordkit/ops"
	"github.com/coordkit/coordkit/tlsconfig"
)

// The client packages whose dependencies the binary must carry, whatever
// main calls.
var (
	_ = discovery.Register
	_ = election.New
	_ = kv.New[string]
	_ = lease.Grant
	_ = lock.NewMutex
	_ = ops.ClusterHealth
	_ = tlsconfig.Client
	_ metrics.Provider
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	cfg, err := coordkit.ClientConfigFromEnv()
	if err != nil {
		return err
	}
	cli, err := coordkit.Connect(ctx, cfg)
	if err != nil {
		return err
	}
	defer cli.Close()
	ms, err := coordkit.Members(ctx, cli)
	if err != nil {
		return err
	}
	for _, m := range ms {
		fmt.Printf("%x %s %v\n", m.ID, m.Name, m.ClientURLs)
	}
	return nil
}
