package lock_test

import (
	"testing"

	"github.com/coordkit/coordkit/coordtest"
)

// BenchmarkServerLockUnlock is BenchmarkLockUnlock over gRPC, through a
// client from coordkit.Connect, against the test's server: embedded 3.7.3,
// or the etcd binary named by COORDKIT_ETCD_BINARY (fsync off; etcd 3.4,
// which cannot turn it off, keeps its data on tmpfs). Sub-benchmarks name
// the server's version; see kv's BenchmarkServerPut for the command.
func BenchmarkServerLockUnlock(b *testing.B) {
	s := coordtest.NewServer(b)
	benchLockUnlock(b, s.NewClient(b), "etcd="+s.Version()+"/")
}
