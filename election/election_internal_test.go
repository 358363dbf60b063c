package election

import (
	"context"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit/coordtest"
)

// A predecessor deleted after the candidate read it but before its watch
// began is not missed: the watch starts at the current revision, so
// waitDelete re-checks the key when the store has moved on.
func TestWaitDeleteSeesDeletionBeforeWatchStarts(t *testing.T) {
	n := coordtest.NewServer(t)
	cli := n.Client()
	ctx := context.Background()
	put, err := cli.Put(ctx, "e/older", "x")
	if err != nil {
		t.Fatal(err)
	}
	read := put.Header.Revision
	if _, err := cli.Delete(ctx, "e/older"); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		waitDelete(ctx, cli, "e/older", put.Header.Revision, read)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("waitDelete missed a deletion that happened before its watch started")
	}
}

// A watch that starts after unrelated writes keeps waiting for the key, and
// returns once it is deleted.
func TestWaitDeleteWaitsForTheKey(t *testing.T) {
	n := coordtest.NewServer(t)
	cli := n.Client()
	ctx := context.Background()
	put, err := cli.Put(ctx, "e/older", "x")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, "unrelated", "y"); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		waitDelete(ctx, cli, "e/older", put.Header.Revision, put.Header.Revision)
	}()
	// Our own watch, opened after waitDelete's, is set up: waitDelete has
	// had its chance to return early by mistake.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	<-cli.Watch(wctx, "e/older", clientv3.WithCreatedNotify())
	if _, err := cli.Get(ctx, "e/older"); err != nil { // and a read, as waitDelete may do
		t.Fatal(err)
	}
	select {
	case <-done:
		t.Fatal("waitDelete returned while the key exists")
	default:
	}
	if _, err := cli.Delete(ctx, "e/older"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("waitDelete did not see the deletion")
	}
}
