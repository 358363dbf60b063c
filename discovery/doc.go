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
//   - A Registration never gives up. Whatever removes it (the lease expired
//     during a partition or an etcd outage, the lease was revoked, someone
//     deleted the key), its supervisor grants a new lease if needed and puts
//     the key back, with jittered backoff capped at a quarter of the TTL,
//     until Close. State and States say what happens, for logs and metrics.
//   - Close deregisters at once (deletes the key, revokes the registration's
//     own lease); Drain first marks the instance draining so pickers and
//     resolvers stop choosing it, then deregisters after a grace period.
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
// All of a process's registrations can share one lease and one keep-alive
// with WithLease; see its documentation for what happens when that lease
// is lost.
package discovery
