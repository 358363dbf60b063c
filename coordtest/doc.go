// Package coordtest starts real, in-memory etcd members for tests: what
// net/http/httptest is to HTTP servers, coordtest is to etcd.
//
// NewNode starts one member and NewCluster several; both are ready when
// they return and are closed by t.Cleanup. They use free loopback ports,
// fast raft timing (10 ms heartbeat, 100 ms election timeout), no fsync and
// a small backend quota, so a test can start many of them side by side,
// under t.Parallel. etcd's logs are kept in memory and printed only when the
// test fails.
//
// Faults are real: members can be stopped, killed and restarted with their
// data; Partition cuts raft traffic between groups of members; every
// member's client traffic passes through a Link (etcd's pkg/v3/proxy) that
// can blackhole, delay or drop connections.
//
// NewServer is for client suites that need no faults: it is an embedded
// member too, unless the environment variable COORDKIT_ETCD_BINARY
// (EnvEtcdBinary) names an etcd executable. Then every NewServer is a fresh
// etcd process from that binary, with the same options, on free loopback
// ports and a temporary data directory, reached through coordkit.Connect;
// NewNode and NewCluster skip their tests, saying why. Running a package's
// tests once per binary checks coordkit against each server version
// (Server.Version, Server.RequireVersion). CI does so for etcd 3.4 and 3.6.
//
// With COORDKIT_TEST_SECURE=1 (EnvSecure), every NewServer is instead a
// 3-member cluster with mutual TLS on client and peer ports, JWT tokens and
// auth on, and its clients authenticate over mutual TLS as a user whose role
// is readwrite on the test's own prefix only ("coordtest/<test name>/");
// their keys, watches and leases are namespaced under it (etcd's
// client/v3/namespace), so a suite's keys need no change. Each client first
// checks that a key outside the prefix is refused. Tests that need more
// (compaction, maintenance, their own clients) declare WithFullAccess and
// skip in that mode, as NewNode and NewCluster do. CI runs the kv, lease,
// lock, election and discovery suites so.
//
// Raft timing bounds leases: etcd's minimum lease TTL is 1.5 × the election
// timeout, so leases as short as 1 s are honoured on coordtest members.
package coordtest
