package ops_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	"github.com/coordkit/coordkit/node"
	"github.com/coordkit/coordkit/ops"
)

// startNode starts a throw-away member on free loopback ports; ops works the
// same on a client of a remote cluster (coordkit.Connect).
func startNode() (*node.Node, error) {
	return node.Start(context.Background(), node.Config{
		ClientURLs:    []string{"http://127.0.0.1:0"},
		PeerURLs:      []string{"http://127.0.0.1:0"},
		UnsafeNoFsync: true,
	})
}

// A readiness endpoint over a cluster: ClusterCheck (a linearizable read,
// no alarm) plus a check of the program's own, answered as Kubernetes'
// /healthz?verbose is.
func ExampleHandler() {
	n, err := startNode()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer n.Close()

	draining := false
	h := ops.Handler(time.Second,
		ops.ClusterCheck(n.Client()),
		ops.CheckFunc("traffic", func(context.Context) error {
			if draining {
				return fmt.Errorf("draining")
			}
			return nil
		}))
	probe := func() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz?verbose", nil))
		fmt.Print(rec.Code, "\n", rec.Body.String())
	}
	probe()
	draining = true
	probe()
	// Output:
	// 200
	// [+]etcd ok
	// [+]traffic ok
	// ok
	// 503
	// [+]etcd ok
	// [-]traffic failed: ops: check "traffic": unhealthy: draining
	// unhealthy
}

// Save a snapshot of a cluster, then check a file's integrity before
// restoring it (node.StartFromSnapshot, or `etcdutl snapshot restore`).
func ExampleSaveSnapshotFile() {
	n, err := startNode()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer n.Close()
	ctx := context.Background()
	if _, err := n.Client().Put(ctx, "config/x", "1"); err != nil {
		fmt.Println(err)
		return
	}

	dir, err := os.MkdirTemp("", "snapshots")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "coordkit.db")
	info, err := ops.SaveSnapshotFile(ctx, n.Client(), path)
	if err != nil {
		fmt.Println(err)
		return
	}
	sum, err := ops.VerifySnapshotFile(path)
	fmt.Println("verified:", err == nil, sum == info.SHA256)
	// Output:
	// verified: true true
}
