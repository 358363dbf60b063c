package coordtest

import (
	"context"
	"os"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/coordkit/coordkit/node"
)

// Node is a single etcd member started for a test. It embeds the
// *node.Node, so Client (in-process), Endpoints, Status and the rest are
// at hand.
type Node struct {
	*node.Node
	t testing.TB
}

// NewNode starts a one-member cluster, ready on return and closed when the
// test ends. It fails the test if the member cannot start.
//
// When EnvEtcdBinary is set, the test is skipped instead: the suite runs
// against an external server, and only NewServer provides one.
func NewNode(t testing.TB, opts ...Option) *Node {
	t.Helper()
	skipIfExternal(t, "coordtest.NewNode")
	o := defaults()
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	cfg := o.nodeConfig("node0")
	cfg.Logger = newTestLog(t, o.level)
	cfg.Dir = tempDir(t)
	o.finish(&cfg)
	n, err := node.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("coordtest: start node: %v", err)
	}
	t.Cleanup(func() { n.Kill(); <-n.Drained() })
	return &Node{Node: n, t: t}
}

// NewClient returns a new gRPC client connected to the node over loopback,
// closed when the test ends. Node.Client, by contrast, is in-process.
func (n *Node) NewClient(t testing.TB) *clientv3.Client {
	t.Helper()
	return newClient(t, n.Endpoints())
}

// NewLink starts a Link (a fault-injecting TCP proxy) in front of the node
// and returns it; its Client reaches the node through the proxy. It is
// closed when the test ends.
func (n *Node) NewLink(t testing.TB) *Link {
	t.Helper()
	return newLink(t, n.Endpoints()[0])
}

func newClient(t testing.TB, endpoints []string) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
		// Fail fast on a dead link so fault tests see errors promptly; etcd's
		// client retries on another endpoint.
		DialKeepAliveTime:    time.Second,
		DialKeepAliveTimeout: time.Second,
	})
	if err != nil {
		t.Fatalf("coordtest: client for %v: %v", endpoints, err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// tempDir is t.TempDir with the permissions etcd wants for a data dir.
func tempDir(t testing.TB) string {
	d := t.TempDir()
	if err := os.Chmod(d, 0o700); err != nil {
		t.Fatalf("coordtest: %v", err)
	}
	return d
}
