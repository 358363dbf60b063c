// Package nodetest holds the helpers the root package's and the node
// package's own tests share to start embedded members directly (not through
// coordtest, whose fault injection they do not need): a fast configuration,
// a start bound to the test, a free address, and a goroutine-leak check that
// waits for etcd's peer connections to wind down.
package nodetest

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/goleak"
	"golang.org/x/crypto/bcrypt"

	"github.com/coordkit/coordkit/node"
)

// Main runs the tests and then checks for leaked goroutines. Members of a
// multi-member cluster started directly with node.Start (not through
// coordtest, whose relays cut peer connections at once) leave etcd's peer
// keep-alive connections to wind down on etcd's own 5 s read timeout after
// Close, so the check waits up to 10 s for them to end.
func Main(m *testing.M) {
	code := m.Run()
	if code == 0 {
		deadline := time.Now().Add(10 * time.Second)
		for {
			err := goleak.Find()
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				fmt.Fprintln(os.Stderr, "goleak:", err)
				code = 1
				break
			}
			time.Sleep(100 * time.Millisecond) // polling a condition with a deadline
		}
	}
	os.Exit(code)
}

// Fast is a test node configuration: free ports, quick raft, no fsync.
func Fast(name string) node.Config {
	return node.Config{
		Name:              name,
		ClientURLs:        []string{"http://127.0.0.1:0"},
		PeerURLs:          []string{"http://127.0.0.1:0"},
		UnsafeNoFsync:     true,
		TickInterval:      10 * time.Millisecond,
		ElectionTimeout:   100 * time.Millisecond,
		QuotaBackendBytes: 64 << 20,
		ReadyTimeout:      10 * time.Second,
		Logger:            slog.New(slog.DiscardHandler),
		Embed:             CheapPasswords,
	}
}

// CheapPasswords hashes passwords at bcrypt's least cost: at etcd's default
// each authentication takes a large part of a second under the race
// detector, beyond the tests' dial timeouts.
func CheapPasswords(ec *embed.Config) { ec.BcryptCost = uint(bcrypt.MinCost) }

// Start starts a member with cfg and closes it when the test ends.
func Start(t *testing.T, cfg node.Config) *node.Node {
	t.Helper()
	n, err := node.Start(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { n.Close() })
	return n
}

// FreeAddr returns a loopback host:port that nothing listened on a moment
// ago.
func FreeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}
