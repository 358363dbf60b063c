package election_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit"
	"github.com/coordkit/coordkit/election"
	"github.com/coordkit/coordkit/lease"
	"github.com/coordkit/coordkit/node"
)

// startNode starts an embedded etcd member on free loopback ports, as a
// program would for a single-machine deployment or a demo.
func startNode() *node.Node {
	node, err := node.Start(context.Background(), node.Config{
		ClientURLs:    []string{"http://127.0.0.1:0"},
		PeerURLs:      []string{"http://127.0.0.1:0"},
		UnsafeNoFsync: true, // examples only
	})
	if err != nil {
		log.Fatal(err)
	}
	return node
}

// A candidate campaigns, leads under its term's context, and resigns.
func Example() {
	node := startNode()
	defer node.Close()
	ctx := context.Background()

	e, err := election.New(node.Client(), "president", election.WithTTL(5*time.Second))
	if err != nil {
		log.Fatal(err)
	}
	term, err := e.Campaign(ctx, "alice") // blocks until elected
	if err != nil {
		log.Fatal(err)
	}
	leader, err := e.Leader(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("leader:", leader.Value, "- is it this term?", leader.Token == term.Token())

	// Do leader's work under term.Context(): it ends if leadership is lost.
	select {
	case <-term.Done():
		fmt.Println("lost:", term.Err())
	default:
		fmt.Println("still leading")
	}

	if err := term.Resign(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println("after resign:", term.Err())
	_, err = e.Leader(ctx)
	fmt.Println(err)
	// Output:
	// leader: alice - is it this term? true
	// still leading
	// after resign: election: term "president": released by its owner (Resign)
	// election: leader "president": no leader: the election has no candidates
}

// Candidates lead in the order they campaigned; each term's Token, its
// fencing token, is larger than the last.
func ExampleElection_Campaign() {
	node := startNode()
	defer node.Close()
	ctx := context.Background()
	e, err := election.New(node.Client(), "scheduler")
	if err != nil {
		log.Fatal(err)
	}

	first, err := e.Campaign(ctx, "node-1")
	if err != nil {
		log.Fatal(err)
	}

	second := make(chan *election.Term)
	go func() {
		term, err := e.Campaign(ctx, "node-2") // waits behind node-1
		if err != nil {
			log.Fatal(err)
		}
		second <- term
	}()

	if err := first.Resign(ctx); err != nil {
		log.Fatal(err)
	}
	next := <-second
	fmt.Println("now leading:", next.Value())
	fmt.Println("fencing token grew:", next.Token() > first.Token())
	if err := next.Resign(ctx); err != nil {
		log.Fatal(err)
	}
	// Output:
	// now leading: node-2
	// fencing token grew: true
}

// Observe reports who leads, every change (including proclaimed values),
// and the election falling vacant.
func ExampleElection_Observe() {
	node := startNode()
	defer node.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e, err := election.New(node.Client(), "primary")
	if err != nil {
		log.Fatal(err)
	}
	events := e.Observe(ctx)
	show := func() {
		ev := <-events
		if ev.Vacant {
			fmt.Println("nobody leads")
			return
		}
		fmt.Println("leader:", ev.Leader.Value)
	}
	show()

	term, err := e.Campaign(ctx, "db-1:5432")
	if err != nil {
		log.Fatal(err)
	}
	show()
	if err := term.Proclaim(ctx, "db-1:6432"); err != nil {
		log.Fatal(err)
	}
	show()
	if err := term.Resign(ctx); err != nil {
		log.Fatal(err)
	}
	show()
	// Output:
	// nobody leads
	// leader: db-1:5432
	// leader: db-1:6432
	// nobody leads
}

// Run campaigns until its context ends, calls OnElected with a context
// that ends with leadership, and campaigns again after every loss.
func ExampleRun() {
	node := startNode()
	defer node.Close()
	ctx, stop := context.WithCancel(context.Background())

	err := election.Run(ctx, node.Client(), "reconciler", "worker-1", election.Callbacks{
		OnElected: func(ctx context.Context, term *election.Term) {
			fmt.Println("elected as", term.Value())
			stop() // a real leader works until ctx ends
			<-ctx.Done()
		},
		OnDemoted: func() { fmt.Println("demoted") },
	})
	fmt.Println("Run returned:", err)
	// Output:
	// elected as worker-1
	// demoted
	// Run returned: election: run "reconciler": context canceled
}

// One lease can carry a process's candidacies in several elections, and
// its other keys: they all end together when the process stops.
func ExampleWithLease() {
	node := startNode()
	defer node.Close()
	ctx := context.Background()
	l, err := lease.Grant(ctx, node.Client(), 10*time.Second)
	if err != nil {
		log.Fatal(err)
	}
	l.KeepAlive(ctx)
	defer l.Revoke(ctx)

	var terms []*election.Term
	for _, name := range []string{"shard-1", "shard-2"} {
		e, err := election.New(node.Client(), name, election.WithLease(l))
		if err != nil {
			log.Fatal(err)
		}
		term, err := e.Campaign(ctx, "worker-7")
		if err != nil {
			log.Fatal(err)
		}
		terms = append(terms, term)
	}
	info, err := l.TimeToLive(ctx, true)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(info.Keys), "keys on the lease")

	for _, term := range terms {
		if err := term.Resign(ctx); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Println("lease still held after resigning:", l.Err() == nil)
	// Output:
	// 2 keys on the lease
	// lease still held after resigning: true
}

// Term.Do writes only while the term leads: a deposed leader's late write
// is refused by etcd, with nothing applied. IsOwner, Txn and Do are those
// of lock.Held; kv's Store.Fenced(term) fences typed writes the same way.
func ExampleTerm_Do() {
	node := startNode()
	defer node.Close()
	ctx := context.Background()
	cli := node.Client()

	e, _ := election.New(cli, "scheduler")
	term, err := e.Campaign(ctx, "node-1")
	if err != nil {
		log.Fatal(err)
	}
	_, err = term.Do(ctx, clientv3.OpPut("schedule/next", "job-42"))
	fmt.Println("as leader:", err)

	cli.Delete(ctx, term.Key()) // as `etcdctl del`: leadership is gone
	_, err = term.Do(ctx, clientv3.OpPut("schedule/next", "job-43"))
	fmt.Println("deposed:", errors.Is(err, election.ErrNotHeld), errors.Is(err, election.ErrLost))
	got, _ := cli.Get(ctx, "schedule/next")
	fmt.Println("stored:", string(got.Kvs[0].Value))
	term.Resign(ctx)
	// Output:
	// as leader: <nil>
	// deposed: true true
	// stored: job-42
}

// A Runner is Run as a value: the rest of the program asks IsLeader instead
// of keeping its own flag in the callbacks.
func ExampleRunner() {
	node := startNode()
	defer node.Close()
	ctx, stop := context.WithCancel(context.Background())

	var r *election.Runner
	r, err := election.NewRunner(node.Client(), "reconciler", "worker-1", election.Callbacks{
		OnElected: func(ctx context.Context, term *election.Term) {
			fmt.Println("leading:", r.IsLeader())
			stop() // a real leader works until ctx ends
			<-ctx.Done()
		},
		OnDemoted: func() { fmt.Println("leading after demotion:", r.IsLeader()) },
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("leading before Run:", r.IsLeader())
	fmt.Println("Run returned:", r.Run(ctx))
	// Output:
	// leading before Run: false
	// leading: true
	// leading after demotion: false
	// Run returned: election: run "reconciler": context canceled
}

// A leader that restarts (here: a second client, as a new process would
// have) resumes its leadership at once from its saved lease ID, with the
// same fencing token and its new value, as etcd's ResumeElection does.
func ExampleElection_Campaign_resume() {
	node := startNode()
	defer node.Close()
	ctx := context.Background()

	// The first run: campaign on a lease whose ID the process saves.
	before, err := coordkit.Connect(ctx, coordkit.ClientConfig{Endpoints: node.Endpoints()}) // this run's connection
	if err != nil {
		log.Fatal(err)
	}
	l, err := lease.Grant(ctx, before, 30*time.Second)
	if err != nil {
		log.Fatal(err)
	}
	e, err := election.New(before, "scheduler", election.WithLease(l))
	if err != nil {
		log.Fatal(err)
	}
	term, err := e.Campaign(ctx, "v1")
	if err != nil {
		log.Fatal(err)
	}
	saved := l.ID()
	before.Close() // the process dies; its lease lives on in etcd

	// The next run opens the saved lease and campaigns again.
	reopened, err := lease.Open(ctx, node.Client(), saved)
	if err != nil {
		log.Fatal(err)
	}
	defer reopened.Revoke(ctx)
	e, err = election.New(node.Client(), "scheduler", election.WithLease(reopened))
	if err != nil {
		log.Fatal(err)
	}
	resumed, err := e.Campaign(ctx, "v2")
	if err != nil {
		log.Fatal(err)
	}
	leader, err := e.Leader(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("same token:", resumed.Token() == term.Token(), "value:", leader.Value)
	// Output:
	// same token: true value: v2
}
