// Command node runs one coordkit node, an etcd member, from etcd's own
// flags, so command lines and ETCD_* environments written for etcd work
// unchanged. The etcd command from the docker guide
//
//	etcd -name etcd0 -advertise-client-urls http://HOST:2379 -listen-client-urls http://0.0.0.0:2379 \
//	  -initial-advertise-peer-urls http://HOST:2380 -listen-peer-urls http://0.0.0.0:2380 \
//	  -initial-cluster-token etcd-cluster-1 -initial-cluster etcd0=http://HOST:2380 -initial-cluster-state new
//
// becomes `go run ./examples/node` followed by the same flags. Flags take one
// or two dashes; URL flags take comma-separated lists; every flag can come
// from ETCD_<FLAG> instead (ETCD_DATA_DIR for --data-dir), the command line
// winning. Clients are served on 2379 and peers on 2380 by default, and the
// data lives in ./<name>.etcd. The supported flags:
//
//	--name, --data-dir
//	--listen-client-urls, --advertise-client-urls
//	--listen-peer-urls, --initial-advertise-peer-urls
//	--initial-cluster, --initial-cluster-token, --initial-cluster-state new|existing
//	--cert-file, --key-file, --trusted-ca-file, --client-cert-auth
//	--peer-cert-file, --peer-key-file, --peer-trusted-ca-file, --peer-client-cert-auth
//	--heartbeat-interval, --election-timeout (milliseconds)
//	--quota-backend-bytes, --auto-compaction-mode, --auto-compaction-retention
//	--log-level debug|info|warn|error
//
// and one of coordkit's own: --join ENDPOINTS joins a running cluster through
// any of its client endpoints (no --initial-cluster needed): the member is
// added as a learner, catches up and is promoted, and is removed again if
// that fails. A new cluster of members started one after another is one
// member started alone and the others started with --join.
//
// Once the member serves, one line is printed:
//
//	serving name=etcd0 member-id=8e9e05c52164694d cluster-id=cdf818194e3a8c32 client-urls=... peer-urls=...
//
// SIGINT or SIGTERM stops it gracefully (a leader hands leadership over
// first).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/coordkit/coordkit/node"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "node:", err)
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// run serves one member until ctx ends (then closes it gracefully) or the
// member stops on its own (an error).
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	o, err := parseOptions(args, getenv, stderr)
	if err != nil {
		return err
	}
	o.cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: o.logLevel}))
	o.cfg.LogLevel = &o.logLevel
	node, err := node.Start(ctx, o.cfg)
	if err != nil {
		return err
	}
	defer node.Close()
	fmt.Fprintf(stdout, "serving name=%s member-id=%x cluster-id=%x client-urls=%s peer-urls=%s\n",
		node.Name(), node.ID(), node.ClusterID(), strings.Join(node.Endpoints(), ","), strings.Join(node.PeerURLs(), ","))
	select {
	case <-ctx.Done():
		return node.Close()
	case <-node.Done():
		return node.Err()
	}
}
