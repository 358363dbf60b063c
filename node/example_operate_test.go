package node_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"

	"github.com/coordkit/coordkit/kv"
	"github.com/coordkit/coordkit/node"
	"github.com/coordkit/coordkit/ops"
)

// exampleConfig is a node on free ports, for examples.
func exampleConfig(name string) node.Config {
	return node.Config{
		Name:       name,
		ClientURLs: []string{"http://127.0.0.1:0"},
		PeerURLs:   []string{"http://127.0.0.1:0"},
	}
}

// Back up a node to a file and start a new node from it.
func ExampleStartFromSnapshot() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "backup")
	defer os.RemoveAll(dir)
	backup := filepath.Join(dir, "backup.db")

	n, err := node.Start(ctx, exampleConfig("n1"))
	if err != nil {
		fmt.Println(err)
		return
	}
	n.Client().Put(ctx, "greeting", "hello")
	if _, err := n.SaveSnapshotFile(ctx, backup); err != nil { // hash checked; all or nothing
		fmt.Println(err)
		return
	}
	n.Close()

	restored, err := node.StartFromSnapshot(ctx, backup, exampleConfig("n1-restored"))
	if err != nil {
		fmt.Println(err) // wraps ErrSnapshotCorrupt for a damaged file
		return
	}
	defer restored.Close()
	resp, _ := restored.Client().Get(ctx, "greeting")
	fmt.Println(string(resp.Kvs[0].Value))
	// Output: hello
}

// Recover a node whose database reached its quota.
func ExampleNode_RecoverNoSpace() {
	ctx := context.Background()
	cfg := exampleConfig("full")
	cfg.QuotaBackendBytes = 1 << 20 // tiny, to fill it quickly
	n, err := node.Start(ctx, cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer n.Close()
	store, _ := kv.New[string](n.Client(), "app", kv.WithCodec(kv.StringCodec))
	big := strings.Repeat("x", 64<<10)
	for err == nil {
		_, err = store.Put(ctx, "big", big) // old revisions pile up
	}
	// Every coordkit write (kv, lease, lock, election, discovery) wraps it.
	fmt.Println("full:", errors.Is(err, node.ErrNoSpace))

	if _, err := n.RecoverNoSpace(ctx); err != nil { // compact, defragment, disarm
		fmt.Println(err)
		return
	}
	_, err = store.Put(ctx, "small", "v")
	fmt.Println("writes again:", err == nil)
	// Output:
	// full: true
	// writes again: true
}

// Serve liveness and readiness probes, with a recipe check.
func ExampleNode_ReadinessHandler() {
	ctx := context.Background()
	n, err := node.Start(ctx, exampleConfig("probed"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer n.Close()
	jobsReady := ops.CheckFunc("jobs", func(context.Context) error { return nil }) // e.g. registration.Check

	mux := http.NewServeMux()
	mux.Handle("/livez", n.LivenessHandler())
	mux.Handle("/readyz", n.ReadinessHandler(jobsReady))

	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz?verbose", nil))
	fmt.Print(rec.Code, "\n", rec.Body.String())
	// Output:
	// 200
	// [+]etcd ok
	// [+]jobs ok
	// ok
}
