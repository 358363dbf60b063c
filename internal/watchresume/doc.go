// Package watchresume is coordkit's one implementation of a watch that never
// goes quiet: kv.Watch, discovery and election build on it.
//
// A Stream watches a key range and hands out Updates, one at a time, from
// Next. It hides the ways an etcd watch breaks:
//
//   - The watch channel closes (member restart, lost leader with
//     clientv3.WithRequireLeader, reconnect): the Stream re-opens the watch
//     after the last revision it delivered, after a jittered backoff. Events
//     at or below that revision are dropped, so none is delivered twice, and
//     since etcd delivers a revision's events together, none is lost.
//   - A watch is never opened ahead of the store (see Watch), so it never
//     keeps etcd 3.6+ from answering progress requests on its gRPC stream.
//   - The revision to resume from was compacted: the Stream lists the range
//     (List) at the current revision and delivers the state as an Update with
//     Resync set, then goes on from that revision + 1. The caller must replace
//     what it knew with the listed state.
//
// Next returns an error only when the Stream's context ends, the client is
// closed, or etcd refuses the watch for good (permission denied); every other
// failure is retried.
//
// List is the consistent, paged read a resync uses, exported because kv.List
// is the same operation.
package watchresume
