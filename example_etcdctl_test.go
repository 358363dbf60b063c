package coordkit_test

import (
	"context"
	"fmt"
	"time"

	"github.com/coordkit/coordkit/election"
	"github.com/coordkit/coordkit/kv"
	"github.com/coordkit/coordkit/lease"
	"github.com/coordkit/coordkit/lock"
	"github.com/coordkit/coordkit/node"
)

// The etcdctl session of our etcd notes, command by command, in coordkit.
// README's "From etcdctl to coordkit" table is this example.
func Example_fromEtcdctl() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	free := []string{"http://127.0.0.1:0"}
	n, err := node.Start(ctx, node.Config{Name: "notes", ClientURLs: free, PeerURLs: free})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer n.Close()
	cli := n.Client()
	must := func(err error) {
		if err != nil {
			panic(err)
		}
	}

	// etcdctl lease grant 100
	l, err := lease.Grant(ctx, cli, 100*time.Second)
	must(err)
	// etcdctl put name eric --lease <id>
	store, err := kv.New[string](cli, "", kv.WithCodec(kv.StringCodec))
	must(err)
	_, err = store.Put(ctx, "name", "eric", kv.WithLease(l.ID()))
	must(err)
	// etcdctl put name yuan --lease <id> --prev-kv
	prev, _, err := store.Swap(ctx, "name", "yuan", kv.WithLease(l.ID()))
	must(err)
	fmt.Println("prev:", prev.Key, prev.Value)
	// etcdctl get "" --prefix
	all, _, err := store.List(ctx)
	must(err)
	fmt.Println("get --prefix:", all[0].Key, all[0].Value)

	// etcdctl lease timetolive <id> --keys
	info, err := l.TimeToLive(ctx, true)
	must(err)
	fmt.Println("granted:", info.GrantedTTL, "keys:", info.Keys)
	// etcdctl lease list
	ids, err := lease.List(ctx, cli)
	must(err)
	fmt.Println("leases:", len(ids))
	// etcdctl lease keep-alive <id>  (KeepAlive(ctx) renews in the background)
	ttl, err := l.KeepAliveOnce(ctx)
	must(err)
	fmt.Println("keepalived with TTL", ttl)
	// etcdctl lease revoke <id>
	must(l.Revoke(ctx))
	// etcdctl lease timetolive <id>  ->  already expired
	_, err = lease.TimeToLive(ctx, cli, l.ID(), false)
	fmt.Println("after revoke:", err != nil)

	// etcdctl lock mylock1 --ttl 10  (hold until released)
	m, err := lock.NewMutex(cli, "mylock1", lock.WithTTL(10*time.Second))
	must(err)
	held, err := m.Lock(ctx)
	must(err)
	must(held.Unlock(ctx))
	must(m.Close(ctx))
	// etcdctl lock mylock echo lock acquired  (run a command under the lock)
	must(lock.Run(ctx, cli, "mylock", func(ctx context.Context, _ *lock.Held) error {
		fmt.Println("lock acquired")
		return nil
	}))

	// etcdctl elect president biden  (candidate)
	e, err := election.New(cli, "president")
	must(err)
	term, err := e.Campaign(ctx, "biden")
	must(err)
	// etcdctl elect president -l  (observer)
	octx, stop := context.WithCancel(ctx)
	ev := <-e.Observe(octx)
	stop()
	fmt.Println("leader:", ev.Leader.Value)
	must(term.Resign(ctx))

	// etcdctl watch --rev=<rev> /foo
	first, err := store.Put(ctx, "/foo", "one")
	must(err)
	_, err = store.Put(ctx, "/foo", "two")
	must(err)
	wctx, stopWatch := context.WithCancel(ctx)
	w, err := store.Watch(wctx, kv.FromRevision(first))
	must(err)
	for range 2 {
		e := <-w.Events()
		fmt.Println("watch:", e.Entry.Key, e.Entry.Value)
	}
	stopWatch()
	w.Close()

	// etcdctl endpoint status
	st, err := n.Status(ctx)
	must(err)
	fmt.Println("leader:", st.IsLeader, "version:", st.Version)
	// etcdctl member list
	ms, err := n.Members(ctx)
	must(err)
	fmt.Println("members:", ms[0].Name)
	// Output:
	// prev: name eric
	// get --prefix: name yuan
	// granted: 1m40s keys: [name]
	// leases: 1
	// keepalived with TTL 1m40s
	// after revoke: true
	// lock acquired
	// leader: biden
	// watch: /foo one
	// watch: /foo two
	// leader: true version: 3.7.3
	// members: notes
}
