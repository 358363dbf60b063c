// Package coordkit is an embeddable coordination toolkit on etcd: leased
// service registration, fenced distributed locks, leader election and
// watched configuration, strongly consistent and correct under failure.
//
// This root package is the client side's starting point. It gets you a
// *clientv3.Client, the currency every other package takes, so nothing of
// etcd is hidden from you:
//
//   - Connect reaches a running cluster, once an endpoint answered, and
//     turns the cluster's refusals into typed errors (ErrAuthRefused,
//     ErrTLSRefused, ErrUnreachable) that say what to fix.
//     ClientConfigFromEnv reads etcdctl's ETCDCTL_* variables, so scripts
//     written for etcdctl keep working.
//   - EndpointStatus and Members show what `etcdctl endpoint status` and
//     `member list` show; AddMember, AddLearner, PromoteMember and
//     RemoveMember change membership from any client, with etcd's refusals
//     typed (ErrQuorumAtRisk, ErrLastMember, ...).
//   - Lease TTLs survive a leader change from MinLeaseTTL on (3 × election
//     timeout + 1 s); CheckLeaseTTL checks one against a cluster's election
//     timeout.
//
// Every error it returns reads `coordkit: <operation>: <sentinel>: <details>`
// and wraps one of its sentinels (test with errors.Is); ErrInvalidArgument
// and ErrInvalidTTL are the values every coordkit package shares.
//
// To run etcd inside your process instead, see package node: node.Start
// starts an embedded member and Node.Client is an in-process client for it.
// This package, like every client-side package, never imports etcd's
// server, so programs that only connect stay small (a test proves it).
//
// The packages:
//
//   - node: an etcd member embedded in your process, alone or as one member
//     of a cluster, with an in-process client, joins, snapshots, NOSPACE
//     recovery and health probes.
//   - kv: a typed store over a key prefix: CAS, consistent lists, watches
//     that resume across failures instead of going quiet, and writes fenced
//     by a lock hold or a leadership term (Store.Fenced).
//   - lease: managed leases whose loss is reported before etcd can expire
//     them; one lease can back a process's locks, candidacies and
//     registrations under one contract, and be taken back after a restart.
//   - lock: fenced mutexes, read-write locks and semaphores, interoperable
//     with `etcdctl lock`.
//   - election: campaigns, terms with fencing tokens and fenced writes (the
//     methods of a lock hold), Observe and a supervised Runner that says
//     whether it leads, interoperable with `etcdctl elect`.
//   - discovery: self-healing registrations, cached watchers, pickers and a
//     gRPC resolver.
//   - ops: snapshots, recovery from a full database (NOSPACE), health
//     checks and probe handlers, for embedded nodes and remote clusters
//     alike.
//   - metrics: the interface every package reports to through WithMetrics;
//     metrics/prom registers on a prometheus.Registerer of your own.
//   - tlsconfig: mutual TLS configurations and a development PKI.
//   - access: users, roles and permissions as a declarative spec, and the
//     least permissions each recipe needs.
//   - coordtest: real in-memory etcd nodes and clusters for tests, with
//     fault injection; what httptest is to net/http.
//
// Client-side packages (all but node and coordtest) never import etcd's
// server.
package coordkit
