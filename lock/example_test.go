package lock_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit"
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

	err = lock.Run(context.Background(), node.Client(), "backup", func(ctx context.Context, held *lock.Held) error {
		fmt.Println("backing up; fencing token is positive:", held.Token() > 0)
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

// A process that restarts while it holds a lock takes it back at once from
// its saved lease ID, with the same fencing token: its key, named after the
// lease, is still the owner. (Here the "restart" is a second client, as a
// new process would have.)
func ExampleMutex_Lock_reclaim() {
	node, err := startNode()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer node.Close()
	ctx := context.Background()

	// The first run holds the lock on a lease whose ID it saves.
	before, err := coordkit.Connect(ctx, coordkit.ClientConfig{Endpoints: node.Endpoints()})
	if err != nil {
		fmt.Println(err)
		return
	}
	l, err := lease.Grant(ctx, before, 30*time.Second)
	if err != nil {
		fmt.Println(err)
		return
	}
	m, err := lock.NewMutex(before, "reports/nightly", lock.WithLease(l))
	if err != nil {
		fmt.Println(err)
		return
	}
	held, err := m.Lock(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	saved := l.ID()
	before.Close() // the process dies holding the lock; the lease lives on

	// The next run opens the saved lease and locks again.
	reopened, err := lease.Open(ctx, node.Client(), saved)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer reopened.Revoke(ctx)
	m, err = lock.NewMutex(node.Client(), "reports/nightly", lock.WithLease(reopened))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close(ctx)
	again, err := m.Lock(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("same hold:", again.Token() == held.Token())
	fmt.Println("unlock:", again.Unlock(ctx))
	// Output:
	// same hold: true
	// unlock: <nil>
}
