// Package node runs an etcd member inside your process: alone, as one member
// of a cluster whose members run in one process, in several or on several
// machines, or restored from a snapshot. It is the server side of coordkit;
// the root package coordkit and the recipe packages (kv, lease, lock,
// election, discovery) are the client side and never import it, so programs
// that only connect to a cluster do not link etcd's server.
//
//   - Start starts a member and returns once it is ready to serve (its
//     cluster has a leader and it has published itself); on any error nothing
//     is left running, listening or locked. Config's zero value (plus a Name)
//     is a single-member cluster on etcd's default ports with an ephemeral
//     data directory; port 0 picks free ports.
//   - StartCluster starts several members of one new cluster in this
//     process; Config.Join makes a member join a running cluster (added as a
//     learner, promoted once caught up, removed again on failure), the way
//     members started one after another form a cluster; Node.Leave is its
//     counterpart. StartFromSnapshot starts a new cluster from a snapshot.
//   - Node.Client is an in-process client that skips gRPC and the network,
//     the fastest way to talk to the member. It lives and dies with the
//     node: once the node stops, it refuses every call unsent (ErrStopped)
//     and whatever was held through it (leases, locks, terms,
//     registrations) is reported lost.
//   - Close hands leadership over first and takes about one election
//     timeout at most; Kill stops the member as a crash would, in
//     milliseconds. Both release the ports and the data directory, so the
//     member can be started again at once. Two members never share a data
//     directory (ErrDataDirInUse instead of etcd's wait on its lock).
//   - Node wraps the ops package for this member: SaveSnapshot,
//     RecoverNoSpace, Live/Ready and their probe handlers; Node.CheckLeaseTTL
//     checks a lease TTL against the member's election timeout (see
//     coordkit.MinLeaseTTL).
//   - Config.Auth applies an access spec at start; Config.ClientUser makes
//     Node.Client act as that user; Config.ClientTLS and PeerTLS serve over
//     mutual TLS.
//
// Errors read `node: <operation> "<member name>": <sentinel>: <details>` and
// wrap this package's sentinels (ErrPortInUse, ErrNotReady, ...), the
// root package's membership refusals (coordkit.ErrLastMember, ...), or
// ErrInvalidArgument for a malformed Config, naming the field.
//
// The package builds wherever etcd's server builds (linux, darwin, windows).
package node
