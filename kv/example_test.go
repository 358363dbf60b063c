package kv_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/coordkit/coordkit/kv"
	"github.com/coordkit/coordkit/lease"
	"github.com/coordkit/coordkit/lock"
	"github.com/coordkit/coordkit/node"
)

func startNode() (*node.Node, error) {
	return node.Start(context.Background(), node.Config{
		ClientURLs:    []string{"http://127.0.0.1:0"},
		PeerURLs:      []string{"http://127.0.0.1:0"},
		UnsafeNoFsync: true,
	})
}

type Service struct {
	Addr string `json:"addr"`
	Port int    `json:"port"`
}

// The etcdctl session, typed: put with a lease, put --prev-kv, get, get
// --prefix.
func Example() {
	node, err := startNode()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer node.Close()
	ctx := context.Background()

	services, err := kv.New[Service](node.Client(), "services") // keys under "services/"
	if err != nil {
		fmt.Println(err)
		return
	}
	l, err := lease.Grant(ctx, node.Client(), 10*time.Second)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer l.Revoke(ctx)

	// etcdctl put services/api '{...}' --lease ID
	if _, err := services.Put(ctx, "api", Service{"10.0.0.1", 80}, kv.WithLease(l.ID())); err != nil {
		fmt.Println(err)
		return
	}
	// etcdctl put services/api '{...}' --prev-kv
	prev, _, err := services.Swap(ctx, "api", Service{"10.0.0.2", 80}, kv.WithLease(l.ID()))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("replaced", prev.Value.Addr)

	// etcdctl get services/api
	e, err := services.Get(ctx, "api")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(e.Key, e.Value.Addr, "version", e.Version, "leased", e.Lease == l.ID())

	_, err = services.Get(ctx, "db")
	fmt.Println(errors.Is(err, kv.ErrNotFound))

	// etcdctl get services/ --prefix
	if _, err := services.Put(ctx, "web", Service{"10.0.0.3", 443}); err != nil {
		fmt.Println(err)
		return
	}
	all, _, err := services.List(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, e := range all {
		fmt.Printf("%s %s:%d\n", e.Key, e.Value.Addr, e.Value.Port)
	}
	// Output:
	// replaced 10.0.0.1
	// api 10.0.0.2 version 2 leased true
	// true
	// api 10.0.0.2:80
	// web 10.0.0.3:443
}

// StringCodec reads and writes raw values, as etcdctl does.
func ExampleStringCodec() {
	node, err := startNode()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer node.Close()
	ctx := context.Background()
	node.Client().Put(ctx, "name", "eric") // etcdctl put name eric

	all, err := kv.New[string](node.Client(), "", kv.WithCodec(kv.StringCodec)) // the whole keyspace
	if err != nil {
		fmt.Println(err)
		return
	}
	e, err := all.Get(ctx, "name")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(e.Value)
	// Output: eric
}

// Update is a read-modify-write that retries when someone else wrote first,
// and never re-sends a write whose outcome is unknown.
func ExampleStore_Update() {
	node, err := startNode()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer node.Close()
	ctx := context.Background()
	counters, err := kv.New[int](node.Client(), "counters")
	if err != nil {
		fmt.Println(err)
		return
	}

	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := counters.Update(ctx, "hits", func(n int, _ bool) (int, error) { return n + 1, nil })
			if errors.Is(err, kv.ErrUnknownOutcome) {
				fmt.Println("may or may not have counted; read it to find out")
			} else if err != nil {
				fmt.Println(err)
			}
		}()
	}
	wg.Wait()
	e, err := counters.Get(ctx, "hits")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(e.Value)
	// Output: 10
}

// CompareAndSwap writes only if nobody wrote since the read.
func ExampleStore_CompareAndSwap() {
	node, err := startNode()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer node.Close()
	ctx := context.Background()
	cfg, err := kv.New[string](node.Client(), "config", kv.WithCodec(kv.StringCodec))
	if err != nil {
		fmt.Println(err)
		return
	}
	if _, err := cfg.Create(ctx, "mode", "primary"); err != nil {
		fmt.Println(err)
		return
	}
	_, err = cfg.Create(ctx, "mode", "other")
	fmt.Println(errors.Is(err, kv.ErrExists))

	e, err := cfg.Get(ctx, "mode")
	if err != nil {
		fmt.Println(err)
		return
	}
	if _, err := cfg.CompareAndSwap(ctx, "mode", e.ModRevision, "standby"); err != nil {
		fmt.Println(err)
		return
	}
	_, err = cfg.CompareAndSwap(ctx, "mode", e.ModRevision, "again") // stale revision
	fmt.Println(errors.Is(err, kv.ErrConflict))
	// Output:
	// true
	// true
}

// A watch delivers typed changes and never goes quiet while its context
// lives.
func ExampleStore_Watch() {
	node, err := startNode()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer node.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	jobs, err := kv.New[string](node.Client(), "jobs", kv.WithCodec(kv.StringCodec))
	if err != nil {
		fmt.Println(err)
		return
	}
	jobs.Put(ctx, "a", "queued")

	w, err := jobs.Watch(ctx, kv.WithInitialState())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer w.Close()
	jobs.Put(ctx, "a", "running")
	jobs.Delete(ctx, "a")

	for range 3 {
		ev := <-w.Events()
		switch ev.Type {
		case kv.EventResync:
			fmt.Println("state:", len(ev.State), "job(s)")
		case kv.EventPut:
			fmt.Println("put", ev.Entry.Key, ev.Entry.Value)
		case kv.EventDelete:
			fmt.Println("delete", ev.Entry.Key)
		}
	}
	// Output:
	// state: 1 job(s)
	// put a running
	// delete a
}

// A Batcher merges writes from many goroutines into shared txns; each
// caller still gets its own result.
func ExampleBatcher() {
	node, err := startNode()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer node.Close()
	ctx := context.Background()
	metrics, err := kv.New[float64](node.Client(), "metrics")
	if err != nil {
		fmt.Println(err)
		return
	}
	b, err := metrics.Batcher()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer b.Close(context.Background())

	var wg sync.WaitGroup
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := b.Put(ctx, fmt.Sprintf("host%03d", i), float64(i)/100); err != nil {
				fmt.Println(err)
			}
		}()
	}
	wg.Wait()
	all, _, err := metrics.List(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(all), all[42].Key, all[42].Value)
	// Output: 100 host042 0.42
}

// PutAsync queues a write and returns a Future at once: one goroutine keeps
// many writes in flight and collects their results later.
func ExampleBatcher_PutAsync() {
	node, err := startNode()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer node.Close()
	ctx := context.Background()
	events, err := kv.New[string](node.Client(), "events", kv.WithCodec(kv.StringCodec))
	if err != nil {
		fmt.Println(err)
		return
	}
	b, err := events.Batcher()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer b.Close(context.Background())

	var futures []*kv.Future
	for i := range 500 {
		futures = append(futures, b.PutAsync(ctx, fmt.Sprintf("e%04d", i), "seen"))
	}
	failed := 0
	for _, f := range futures {
		if _, err := f.Wait(ctx); err != nil {
			failed++
		}
	}
	all, _, err := events.List(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(all), "written,", failed, "failed")
	// Output: 500 written, 0 failed
}

// A write fenced by a lock applies only while the lock is held: etcd itself
// refuses it once the hold has ended, even if the holder has not noticed.
func ExampleStore_Fenced() {
	node, err := startNode()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer node.Close()
	ctx := context.Background()

	reports, _ := kv.New[string](node.Client(), "reports", kv.WithCodec(kv.StringCodec))
	m, _ := lock.NewMutex(node.Client(), "reports-writer")
	defer m.Close(ctx)
	held, err := m.Lock(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}

	fenced := reports.Fenced(held) // every write through it carries the fence
	_, err = fenced.Put(ctx, "daily", "written under the lock")
	fmt.Println("while held:", err)

	held.Unlock(ctx)
	_, err = fenced.Put(ctx, "daily", "too late")
	fmt.Println("after Unlock:", errors.Is(err, kv.ErrNotHeld), errors.Is(err, lock.ErrReleased))
	e, _ := reports.Get(ctx, "daily")
	fmt.Println("stored:", e.Value)
	// Output:
	// while held: <nil>
	// after Unlock: true true
	// stored: written under the lock
}
