// Command lock demonstrates coordkit's distributed lock on an embedded etcd
// member: mutual exclusion with etcdctl's key layout, fencing tokens,
// writes that etcd refuses once a hold is lost, the loss signal, and Do,
// the library form of `etcdctl lock NAME <command>`. It needs no flags and
// no running etcd, and exits when done:
//
//	go run ./examples/lock
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit/lock"
	"github.com/coordkit/coordkit/node"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "lock:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	node, err := node.Start(ctx, node.Config{
		Name:          "lock-example",
		ClientURLs:    []string{"http://127.0.0.1:0"},
		PeerURLs:      []string{"http://127.0.0.1:0"},
		UnsafeNoFsync: true, // a throwaway member: speed over durability
		Logger:        slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		return err
	}
	defer node.Close()
	cli := node.Client()
	fmt.Println("etcd member serving at", node.Endpoints()[0])

	// Two handles stand for two processes contending for one lock.
	alice, err := lock.NewMutex(cli, "demo/report", lock.WithTTL(5*time.Second))
	if err != nil {
		return err
	}
	defer alice.Close(ctx)
	bob, err := lock.NewMutex(cli, "demo/report", lock.WithTTL(5*time.Second))
	if err != nil {
		return err
	}
	defer bob.Close(ctx)

	a, err := alice.Lock(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("alice holds %s (what `etcdctl lock demo/report` would print), token %d\n", a.Key(), a.Token())
	if _, err := bob.TryLock(ctx); errors.Is(err, lock.ErrLocked) {
		fmt.Println("bob's TryLock:", err)
	}

	// Bob queues; alice writes, fenced on her hold, then unlocks.
	bobHolds := make(chan *lock.Held, 1)
	bobErr := make(chan error, 1)
	go func() {
		h, err := bob.Lock(ctx)
		if err != nil {
			bobErr <- err
			return
		}
		bobHolds <- h
	}()
	if _, err := a.Do(ctx, clientv3.OpPut("demo/report-owner", "alice")); err != nil {
		return err
	}
	fmt.Println("alice wrote demo/report-owner while holding the lock")
	if err := a.Unlock(ctx); err != nil {
		return err
	}
	var b *lock.Held
	select {
	case b = <-bobHolds:
	case err := <-bobErr:
		return err
	}
	fmt.Printf("bob holds it now, token %d > %d\n", b.Token(), a.Token())

	// A stale holder cannot write: etcd checks the hold in the txn.
	if _, err := a.Do(ctx, clientv3.OpPut("demo/report-owner", "alice, late")); errors.Is(err, lock.ErrNotHeld) {
		fmt.Println("alice's late write was refused:", errors.Is(err, lock.ErrNotHeld))
	}

	// An operator revokes bob's lease (`etcdctl lease revoke`): bob is
	// told at once, and why; his writes are refused from then on.
	if _, err := cli.Revoke(ctx, b.Lease().ID()); err != nil {
		return err
	}
	select {
	case <-b.Done():
	case <-ctx.Done():
		return ctx.Err()
	}
	fmt.Println("bob lost the lock:", b.Err())
	if _, err := b.Do(ctx, clientv3.OpPut("demo/report-owner", "bob")); errors.Is(err, lock.ErrNotHeld) {
		fmt.Println("bob's write after the loss was refused")
	}
	if err := b.Unlock(ctx); err != nil { // harmless after a loss
		return err
	}

	// Run: run a function while holding the lock, like
	// `etcdctl lock demo/report ./make-report.sh`.
	err = lock.Run(ctx, cli, "demo/report", func(ctx context.Context, held *lock.Held) error {
		fmt.Printf("making the report under the lock, token %d\n", held.Token())
		return nil
	}, lock.WithTTL(5*time.Second))
	if err != nil {
		return err
	}

	// Close revokes each handle's lease; then stop the member.
	if err := errors.Join(alice.Close(ctx), bob.Close(ctx)); err != nil {
		return err
	}
	if err := node.Close(); err != nil {
		return err
	}
	fmt.Println("done")
	return nil
}
