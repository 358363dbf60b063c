package lock_test

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/coordkit/coordkit/coordtest"
	"github.com/coordkit/coordkit/lock"
)

func createRev(t *testing.T, cli *clientv3.Client, key string) int64 {
	t.Helper()
	resp, err := cli.Get(context.Background(), key)
	require.NoError(t, err)
	require.Len(t, resp.Kvs, 1, "key %s", key)
	return resp.Kvs[0].CreateRevision
}

// A coordkit Mutex and etcd's concurrency.Mutex on the same name exclude
// each other, in both directions, and queue in one order.
func TestInteropWithConcurrencyMutex(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t)
	cli := n.Client()
	ctx := ctxFor(t)
	sess, err := concurrency.NewSession(cli, concurrency.WithTTL(10))
	require.NoError(t, err)
	defer sess.Close()
	theirs := concurrency.NewMutex(sess, "shared")
	ours := newMutex(t, cli, "shared")

	// Ours holds; theirs is refused, then waits, then gets it.
	h, err := ours.Lock(ctx)
	require.NoError(t, err)
	require.ErrorIs(t, theirs.TryLock(ctx), concurrency.ErrLocked)
	done := make(chan error, 1)
	go func() { done <- theirs.Lock(ctx) }()
	waitKeys(t, cli, "shared/", 2)
	select {
	case err := <-done:
		t.Fatalf("concurrency.Mutex got the lock while coordkit held it (err %v)", err)
	default:
	}
	require.NoError(t, h.Unlock(ctx))
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(within):
		t.Fatal("concurrency.Mutex never got the lock")
	}
	theirRev := createRev(t, cli, theirs.Key())
	require.Greater(t, theirRev, h.Token())

	// Theirs holds; ours is refused, then waits, then gets it.
	_, err = ours.TryLock(ctx)
	require.ErrorIs(t, err, lock.ErrLocked)
	ch := async(func() (*lock.Held, error) { return ours.Lock(ctx) })
	waitKeys(t, cli, "shared/", 2)
	notYet(t, ch)
	require.NoError(t, theirs.Unlock(ctx))
	r := await(t, ch)
	require.NoError(t, r.err)
	require.Greater(t, r.h.Token(), theirRev)
	require.NoError(t, r.h.Unlock(ctx))
}

// `etcdctl lock NAME` and a coordkit Mutex exclude each other. Skipped
// when etcdctl is not installed (.ci/run installs it).
func TestInteropWithEtcdctl(t *testing.T) {
	etcdctl, err := exec.LookPath("etcdctl")
	if err != nil {
		t.Skip("etcdctl not installed")
	}
	t.Parallel()
	n := coordtest.NewServer(t, coordtest.WithFullAccess("runs etcdctl against Endpoints"))
	cli := n.Client()
	ctx := ctxFor(t)
	ours := newMutex(t, cli, "ctl-lock")

	h, err := ours.Lock(ctx)
	require.NoError(t, err)
	cmd := exec.CommandContext(ctx, etcdctl, "--endpoints="+n.Endpoints()[0], "lock", "ctl-lock")
	cmd.Env = append(os.Environ(), "ETCDCTL_API=3")
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(within):
			_ = cmd.Process.Kill()
		}
	}()
	lines := make(chan string, 4)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		exited <- cmd.Wait()
	}()

	// etcdctl queues behind us and prints its key only once it holds.
	waitKeys(t, cli, "ctl-lock/", 2)
	select {
	case l := <-lines:
		t.Fatalf("etcdctl acquired while coordkit held the lock: %q", l)
	default:
	}
	require.NoError(t, h.Unlock(ctx))
	var key string
	select {
	case key = <-lines:
	case <-time.After(within):
		t.Fatal("etcdctl never acquired")
	}
	require.True(t, strings.HasPrefix(key, "ctl-lock/"), "etcdctl printed %q", key)

	// Now etcdctl holds: we are refused until it exits.
	_, err = ours.TryLock(ctx)
	require.ErrorIs(t, err, lock.ErrLocked)
	ch := async(func() (*lock.Held, error) { return ours.Lock(ctx) })
	waitKeys(t, cli, "ctl-lock/", 2)
	notYet(t, ch)
	require.NoError(t, cmd.Process.Signal(os.Interrupt)) // etcdctl unlocks on SIGINT
	r := await(t, ch)
	require.NoError(t, r.err)
	require.Greater(t, r.h.Token(), createRevBefore(t, cli, key, r.h))
	require.NoError(t, r.h.Unlock(ctx))
}

// createRevBefore is the create revision etcdctl's key had; it is gone
// by now, so it is read from the history: any revision below ours.
func createRevBefore(t *testing.T, cli *clientv3.Client, key string, ours *lock.Held) int64 {
	t.Helper()
	resp, err := cli.Get(context.Background(), key, clientv3.WithRev(ours.Token()-1))
	require.NoError(t, err)
	require.Len(t, resp.Kvs, 1, "etcdctl's key existed just before ours")
	return resp.Kvs[0].CreateRevision
}
