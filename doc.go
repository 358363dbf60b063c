// Package coordkit is an embeddable coordination toolkit on etcd: leased
// service registration, fenced distributed locks, leader election and
// watched configuration, strongly consistent and correct under failure.
//
// Start here to get a *clientv3.Client, the currency every other package
// takes, so nothing of etcd is hidden from you:
//
//   - StartNode runs an etcd member inside your process, alone or as one
//     member of a cluster (in one process, several, or on several machines).
//     Node.Client is an in-process client that skips gRPC and the network,
//     the fastest way to talk to that member. It lives and dies with the
//     node: once the node stops, it refuses every call and whatever was held
//     through it (leases, locks, terms, registrations) is reported lost.
//     StartCluster starts several members of one cluster in this process;
//     NodeConfig.Join makes a member join a running cluster (the way members
//     started one after another form a cluster); Members, AddMember,
//     AddLearner, PromoteMember and RemoveMember change membership from any
//     client. Close and Kill take milliseconds (a leader hands over first on
//     Close).
//   - Lease TTLs survive a leader change from MinLeaseTTL on (3 × election
//     timeout + 1 s); Node.CheckLeaseTTL checks one against a member's
//     timing.
//   - Connect reaches a cluster you already run; ClientConfigFromEnv reads
//     etcdctl's ETCDCTL_* variables, so scripts written for etcdctl keep
//     working.
//
// The packages:
//
//   - kv: a typed store over a key prefix: CAS, consistent lists, and
//     watches that resume across failures instead of going quiet.
//   - lease: managed leases whose loss is reported before etcd can expire
//     them.
//   - lock: fenced mutexes, read-write locks and semaphores, interoperable
//     with `etcdctl lock`.
//   - election: campaigns, terms with fencing tokens, Observe and a
//     supervised Run loop, interoperable with `etcdctl elect`.
//   - discovery: self-healing registrations, cached watchers, pickers and a
//     gRPC resolver.
//   - ops: snapshots, recovery from a full database (NOSPACE), health
//     checks and probe handlers, for embedded nodes and remote clusters
//     alike; Node wraps them (SaveSnapshotFile, RecoverNoSpace,
//     LivenessHandler, ReadinessHandler) and StartNodeFromSnapshot restores.
//   - metrics: the interface every package reports to through WithMetrics;
//     metrics/prom registers on a prometheus.Registerer of your own.
//   - tlsconfig: mutual TLS configurations and a development PKI.
//   - access: users, roles and permissions as a declarative spec, and the
//     least permissions each recipe needs.
//   - coordtest: real in-memory etcd nodes and clusters for tests, with
//     fault injection; what httptest is to net/http.
//
// Client-side packages (everything but this one and coordtest) never
// import etcd's server, so programs that only connect stay small.
package coordkit
