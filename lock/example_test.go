package lock_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

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

// Lock, write only while holding (etcd itself refuses the write once the
// hold is over), unlock.
func Example() {
	node, err := startNode()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer node.Close()
	ctx := context.Background()
	cli := node.Client()

	m, err := lock.NewMutex(cli, "reports/nightly", lock.WithTTL(10*time.Second))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close(ctx)

	held, err := m.Lock(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	_, err = held.Do(ctx, clientv3.OpPut("reports/last-run-by", "this process"))
	fmt.Println("fenced write while holding:", err)

	if err := held.Unlock(ctx); err != nil {
		fmt.Println(err)
		return
	}
	_, err = held.Do(ctx, clientv3.OpPut("reports/last-run-by", "a stale holder"))
	fmt.Println("after Unlock:", errors.Is(err, lock.ErrNotHeld))
	// Output:
	// fenced write while holding: <nil>
	// after Unlock: true
}

// Run is `etcdctl lock backup <command>` as a function: fn runs while the
// lock is held, with a context cancelled if the hold is lost.
func ExampleRun() {
	node, err := startNode()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer node.Close()

	err = lock.Run(context.Background(), node.Client(), "backup", func(ctx context.Context, token int64) error {
		fmt.Println("backing up; fencing token is positive:", token > 0)
		return nil
	})
	fmt.Println("done:", err)
	// Output:
	// backing up; fencing token is positive: true
	// done: <nil>
}

// TryLock does not wait: it fails with ErrLocked while someone else holds
// the lock, and leaves no key behind.
func ExampleMutex_TryLock() {
	node, err := startNode()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer node.Close()
	ctx := context.Background()

	a, _ := lock.NewMutex(node.Client(), "cron/cleanup")
	defer a.Close(ctx)
	b, _ := lock.NewMutex(node.Client(), "cron/cleanup")
	defer b.Close(ctx)

	held, err := a.TryLock(ctx)
	fmt.Println("a:", err)
	_, err = b.TryLock(ctx)
	fmt.Println("b:", errors.Is(err, lock.ErrLocked))
	held.Unlock(ctx)
	held, err = b.TryLock(ctx)
	fmt.Println("b after a unlocked:", err)
	held.Unlock(ctx)
	// Output:
	// a: <nil>
	// b: true
	// b after a unlocked: <nil>
}

// Done and Err tell a holder the moment its hold is gone, and why: here
// someone ran `etcdctl del` on the lock key.
func ExampleHeld_Done() {
	node, err := startNode()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer node.Close()
	ctx := context.Background()
	cli := node.Client()

	m, _ := lock.NewMutex(cli, "leader-task")
	defer m.Close(ctx)
	held, err := m.Lock(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = held.Context() // start watching now

	cli.Delete(ctx, held.Key())
	<-held.Done()
	fmt.Println(errors.Is(held.Err(), lock.ErrLost), errors.Is(held.Err(), lock.ErrKeyDeleted))
	fmt.Println("late Unlock:", held.Unlock(ctx))
	// Output:
	// true true
	// late Unlock: <nil>
}

// Readers share an RWMutex; a writer waits for them.
func ExampleRWMutex() {
	node, err := startNode()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer node.Close()
	ctx := context.Background()

	rw, _ := lock.NewRWMutex(node.Client(), "config")
	defer rw.Close(ctx)
	r1, _ := rw.RLock(ctx)
	r2, err := rw.RLock(ctx)
	fmt.Println("second reader:", err)
	_, err = rw.TryLock(ctx)
	fmt.Println("writer while read-locked:", errors.Is(err, lock.ErrLocked))
	r1.Unlock(ctx)
	r2.Unlock(ctx)
	w, err := rw.Lock(ctx)
	fmt.Println("writer once readers left:", err)
	w.Unlock(ctx)
	// Output:
	// second reader: <nil>
	// writer while read-locked: true
	// writer once readers left: <nil>
}

// A Semaphore admits n holders; its limit lives in etcd, so a process
// configured differently is refused rather than oversubscribing.
func ExampleSemaphore() {
	node, err := startNode()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer node.Close()
	ctx := context.Background()
	cli := node.Client()

	sem, _ := lock.NewSemaphore(cli, "encoders", 2)
	defer sem.Close(ctx)
	h1, _ := sem.Acquire(ctx)
	h2, _ := sem.Acquire(ctx)
	_, err = sem.TryAcquire(ctx)
	fmt.Println("third:", errors.Is(err, lock.ErrLocked))

	other, _ := lock.NewSemaphore(cli, "encoders", 5)
	defer other.Close(ctx)
	_, err = other.TryAcquire(ctx)
	fmt.Println("limit 5 against stored 2:", errors.Is(err, lock.ErrLimitMismatch))
	h1.Unlock(ctx)
	h2.Unlock(ctx)
	// Output:
	// third: true
	// limit 5 against stored 2: true
}
