// Command quickstart starts an embedded etcd member, writes and reads a key,
// prints what `etcdctl endpoint status` would show, and exits. It needs no
// flags, no setup and no running etcd:
//
//	go run ./examples/quickstart
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/coordkit/coordkit"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// An ephemeral member on free loopback ports; its data dir is removed
	// on Close.
	node, err := coordkit.StartNode(ctx, coordkit.NodeConfig{
		Name:       "quickstart",
		ClientURLs: []string{"http://127.0.0.1:0"},
		PeerURLs:   []string{"http://127.0.0.1:0"},
		Logger:     slog.New(slog.NewTextHandler(os.Stderr, nil)),
	})
	if err != nil {
		return err
	}
	defer node.Close()
	fmt.Println("etcd member", node.Name(), "serving clients at", node.Endpoints()[0])

	cli := node.Client() // in-process client: no network in between
	put, err := cli.Put(ctx, "greeting", "hello, coordkit")
	if err != nil {
		return err
	}
	got, err := cli.Get(ctx, "greeting")
	if err != nil {
		return err
	}
	fmt.Printf("put greeting at revision %d, read back %q\n", put.Header.Revision, got.Kvs[0].Value)

	st, err := node.Status(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("endpoint status: id=%x leader=%x is_leader=%v version=%s db_size=%dB raft_term=%d raft_index=%d revision=%d\n",
		st.MemberID, st.Leader, st.IsLeader, st.Version, st.DBSize, st.RaftTerm, st.RaftIndex, st.Revision)

	if err := node.Close(); err != nil {
		return err
	}
	fmt.Println("closed cleanly")
	return nil
}
