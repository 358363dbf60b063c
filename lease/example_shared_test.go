package lease_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/coordkit/coordkit/election"
	"github.com/coordkit/coordkit/kv"
	"github.com/coordkit/coordkit/lease"
	"github.com/coordkit/coordkit/lock"
)

// One lease shared by a lock and a candidacy, under the contract of
// "Leases shared with recipes": the recipes keep it alive, kv writes are
// fenced by the hold and the term, a restarted process takes its lock back
// on the same lease, and losing the lease ends everything held on it.
func Example_sharedWithRecipes() {
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
	defer l.Revoke(ctx) // the caller owns the lease; recipes never revoke it

	mu, _ := lock.NewMutex(cli, "jobs/nightly", lock.WithLease(l))
	defer mu.Close(ctx) // deletes its keys only: l lives on
	held, err := mu.Lock(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer held.Unlock(ctx)
	e, _ := election.New(cli, "jobs/leader", election.WithLease(l))
	term, err := e.Campaign(ctx, "worker-1")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer term.Resign(ctx)
	reports, _ := kv.New[string](cli, "reports", kv.WithCodec(kv.StringCodec))
	_, err = reports.Fenced(held).Put(ctx, "nightly", "done")
	fmt.Println("fenced by the lock:", err)
	_, err = reports.Fenced(term).Put(ctx, "leader", "worker-1")
	fmt.Println("fenced by the term:", err)

	// The process restarts: it saved the lease ID, opens the lease again and
	// takes its lock back at once, with the same fencing token.
	again, err := lease.Open(ctx, cli, l.ID())
	if err != nil {
		fmt.Println(err)
		return
	}
	mu2, _ := lock.NewMutex(cli, "jobs/nightly", lock.WithLease(again))
	defer mu2.Close(ctx)
	held2, err := mu2.Lock(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer held2.Unlock(ctx)
	fmt.Println("same token after the restart:", held2.Token() == held.Token())

	// The lease is lost (here revoked; expired alike): the hold and the
	// term end, and their fenced writes are refused, nothing applied.
	if err := again.Revoke(ctx); err != nil {
		fmt.Println(err)
		return
	}
	<-held2.Done()
	<-term.Done()
	fmt.Println("hold lost:", errors.Is(held2.Err(), lock.ErrLost), "term lost:", errors.Is(term.Err(), election.ErrLost))
	_, err = reports.Fenced(term).Put(ctx, "leader", "a deposed worker-1")
	fmt.Println("late write refused:", errors.Is(err, kv.ErrNotHeld))
	// Output:
	// fenced by the lock: <nil>
	// fenced by the term: <nil>
	// same token after the restart: true
	// hold lost: true term lost: true
	// late write refused: true
}
