// Package reliability holds coordkit's end-to-end reliability suites; it
// has no code of its own, only tests:
//
//   - linearizability: histories of kv operations (Get, Put,
//     CompareAndSwap, Update, Delete, and the Batcher's Put and Delete)
//     from many clients of a three-member coordtest cluster, under member
//     kills, partitions, client-link blackholes, dropped connections and
//     delays, checked with porcupine against a model of one etcd key that
//     tracks mod revisions as well as values. A write whose outcome is
//     unknown is modelled as possibly applied, at any time after its call.
//     A negative control (serializable reads from a partitioned member)
//     must be rejected by the checker.
//   - crash durability: a single-member node with fsync on, in a child
//     process, SIGKILLed repeatedly while writing and restarted on the same
//     data directory; every write it acknowledged must be there. (A process
//     crash cannot lose what reached the kernel: this shows writes are
//     acknowledged only once written, not that fsync reached the disk.)
//
// Durations and seeds come from the environment (package internal/soak):
// COORDKIT_SOAK=2m COORDKIT_SEED=123 go test ./internal/reliability/.
// A failing linearizability check writes porcupine's HTML visualisation
// under the test's artifact directory (kept with go test -artifacts) and
// prints its path.
package reliability
