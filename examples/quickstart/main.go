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

	"github.com/coordkit/coordkit/kv"
	"github.com/coordkit/coordkit/lease"
	"github.com/coordkit/coordkit/node"
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
	node, err := node.Start(ctx, node.Config{
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

	// A typed store over a prefix, and a watch on it.
	type Service struct {
		Addr    string `json:"addr"`
		Version string `json:"version"`
	}
	services, err := kv.New[Service](cli, "services")
	if err != nil {
		return err
	}
	watch, err := services.Watch(ctx)
	if err != nil {
		return err
	}
	defer watch.Close()

	// A lease kept alive in the background; the key goes when the lease does
	// (like `etcdctl put name eric --lease ID`).
	l, err := lease.Grant(ctx, cli, 5*time.Second)
	if err != nil {
		return err
	}
	l.KeepAlive(ctx)
	if _, err := services.Put(ctx, "api", Service{Addr: "127.0.0.1:8080", Version: "1.0"}, kv.WithLease(l.ID())); err != nil {
		return err
	}
	ev := <-watch.Events()
	fmt.Printf("watch saw %s %s -> %+v\n", ev.Type, ev.Entry.Key, ev.Entry.Value)
	info, err := l.TimeToLive(ctx, true)
	if err != nil {
		return err
	}
	fmt.Printf("lease %x: granted %v, keys %v\n", int64(l.ID()), info.GrantedTTL, info.Keys)

	// Optimistic read-modify-write, retried on conflict.
	if _, err := services.Update(ctx, "api", func(old Service, exists bool) (Service, error) {
		old.Version = "1.1"
		return old, nil
	}); err != nil {
		return err
	}
	if err := l.Revoke(ctx); err != nil { // deletes the key with the lease
		return err
	}
	for ev := range watch.Events() {
		fmt.Printf("watch saw %s %s\n", ev.Type, ev.Entry.Key)
		if ev.Type == kv.EventDelete {
			break
		}
	}

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
