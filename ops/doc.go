// Package ops is what an operator of an etcd cluster used through coordkit
// needs, on a plain *clientv3.Client (an embedded node's in-process client
// or a client of a remote cluster): recovering from a full database
// (RecoverNoSpace), saving snapshots with their integrity hash checked
// (SaveSnapshot, SaveSnapshotFile, VerifySnapshotFile), and health checks
// with http.Handlers for liveness and readiness probes (Check, Handler).
//
// Package node wraps these for embedded members (Node.SaveSnapshotFile,
// Node.RecoverNoSpace, Node.ReadinessHandler) and adds what needs etcd's
// server: starting a member from a snapshot (node.StartFromSnapshot). Like
// every client-side package, ops never imports etcd's server.
//
// Guarantees:
//   - Every coordkit write refused because the database is full wraps
//     ErrNoSpace, whatever package it comes from (kv, lease, lock,
//     election, discovery); errors.Is(err, ops.ErrNoSpace) finds it.
//   - A snapshot is only reported saved once its SHA-256 trailer matched
//     the bytes received; SaveSnapshotFile never leaves a partial file
//     under the requested name.
//   - Handler never blocks a probe longer than its timeout.
package ops
