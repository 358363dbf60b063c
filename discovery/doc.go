// Package discovery registers service instances in etcd and finds them:
// self-healing leased registrations, cached watchers, pickers and a gRPC
// resolver.
//
// An instance registers with Register and stays registered until Close:
//
//	reg, err := discovery.Register(ctx, cli, discovery.Instance{Service: "payments", Addr: "10.0.0.7:8080"})
//	defer reg.Close(context.Background())
//
// Clients watch a service with Watch, choose an instance with a Picker, or
// let gRPC do both with NewResolverBuilder and the target
// "coordkit:///payments".
//
// # Storage
//
// An instance is the key <namespace>/<service>/<id> (namespace
// DefaultNamespace unless WithNamespace says otherwise) attached to a
// lease, with a JSON value in the format of etcd's naming/endpoints
// package: {"Op":0,"Addr":"10.0.0.7:8080","Metadata":{"zone":"a"}}. etcd's
// endpoints Manager (target <namespace>/<service>), its "etcd:///" gRPC
// resolver and `etcdctl get --prefix` read coordkit registrations, and
// coordkit's watchers read endpoints added through the Manager.
//
// The ID is stable (given, or derived from the address), never the lease
// ID, so an instance that restarts replaces its old entry instead of being
// listed next to it until the old lease expires.
//
// # Guarantees
//
//   - A Registration with a lease of its own never gives up. Whatever
//     removes it (the lease expired during a partition or an etcd outage,
//     the lease was revoked, someone deleted the key), it grants a new lease
//     if needed and puts the key back, with jittered backoff capped at a
//     quarter of the TTL, until Close. State and States say what happens,
//     for logs and metrics.
//   - A Registration on a caller's lease (WithLease) follows the one
//     contract for leases shared with recipes: a deleted key is put back on
//     that lease, and when the lease is lost the registration ends; see
//     WithLease.
//   - Close deregisters at once (revokes the registration's own lease, or
//     deletes the key from a caller's lease); Drain first marks the instance
//     draining so pickers and resolvers stop choosing it, then deregisters
//     after a grace period. Every write (Register, Update, Drain, Close)
//     that fails says whether it may have been applied: ErrRejected or
//     ErrUnknownOutcome.
//   - Registrations cost about what raw etcd does: a registration with a
//     lease of its own is one goroutine, reading the renewals of its lease
//     from the client's one keep-alive stream; one on a caller's lease is
//     none. One etcd watch per service and client notices deleted keys for
//     all of them.
//   - A Watcher's reads never send a request and return immutable
//     snapshots. The watch starts at the revision of its list, so no change
//     is missed; when it breaks it lists again and publishes only the
//     difference. An error never empties the cache: it keeps the last good
//     snapshot and reports Stale. A quiet watch is probed with progress
//     requests and reads of the store's revision, so a silent network
//     failure is reported too, and an idle store is not taken for one.
//   - One etcd watch per service, client and namespace serves every Watcher
//     and resolver of it in the process.
//   - Pickers (NewRoundRobin, NewRandom, NewPowerOfTwo) never choose a
//     draining instance.
//
// # Options
//
// Register takes RegisterOptions, Watch and NewResolverBuilder take
// WatchOptions; the options every call takes (WithNamespace, WithLogger,
// WithMetrics) are both. An option given to a call it does not apply to
// does not compile.
package discovery
