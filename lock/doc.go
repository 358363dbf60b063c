// Package lock provides distributed locks on etcd that say when they are
// lost and carry fencing tokens: Mutex (interoperable with `etcdctl lock`
// and etcd's concurrency.Mutex), RWMutex, Semaphore, and Run, the library
// form of `etcdctl lock name <command>`.
//
// A lock built on a lease is only as good as what its holder does after
// losing it. A process can be paused (GC, swap, a stalled VM) or cut off
// past its lease's TTL; etcd then expires the lease, deletes the key, and
// the next waiter takes the lock while the old holder still believes it
// holds. No lock service can prevent that; it can only make it detectable
// and harmless. This package therefore gives:
//
//   - Fencing tokens and fenced writes. Held.Token is the lock key's create
//     revision, strictly increasing across successive holders, so external
//     systems can reject requests carrying an older token. Held.Do and
//     Held.Txn apply etcd writes only while the hold is current (IsOwner),
//     and kv's Store.Fenced(held) does so for typed writes; a write refused
//     because the hold ended wraps ErrNotHeld, and no write's failure is
//     ambiguous: ErrRejected (nothing applied) or ErrUnknownOutcome.
//   - Honest loss signals. Held.Context (and Done) is cancelled when the
//     lock key is deleted, or its lease is revoked, expires, or passes its
//     keep-alive deadline — decided locally, from when the last renewal was
//     sent, so no later than etcd can expire it. Held.Err says which.
//   - Fenced release. Unlock deletes the key only if it still has this
//     hold's create revision: idempotent, safe to retry, and never deleting
//     a newer holder's key.
//   - Waiters that notice their own death. Lock returns ErrLeaseLost as
//     soon as the waiter's lease is lost, instead of waiting for its
//     predecessors to leave, and never reports an acquisition the lease may
//     no longer back. A cancelled Lock removes its waiter key.
//   - Goroutine-safe handles. Every acquisition owns its key: goroutines
//     sharing a Mutex take turns in-process, and a second handle sharing a
//     lease waits instead of believing it holds the first one's key.
//
// A Held has the methods of an election.Term, with the same meaning (Key,
// Token, Lease, Context, Done, Err, IsOwner, Txn, Do), and the sentinels
// are the same values (ErrLost, ErrReleased, ErrLeaseLost, ErrNotHeld).
//
// Always Unlock a Held, even after a loss (it is then harmless), and Close
// handles when done: a handle keeps its lease alive until then.
//
// # Layout and interoperability
//
// A Mutex named "name" uses the layout of etcd's concurrency.Mutex: a key
// name/<lease ID in hex> per contender, attached to its lease, ordered by
// create revision, the oldest holding. So coordkit, `etcdctl lock name`
// and any concurrency.Mutex user exclude each other. RWMutex uses
// name/read/ and name/write/, Semaphore name/holders/ and name/limit. Give
// locks of different kinds different names, and do not nest names: a Mutex
// "jobs" would count the keys of a lock "jobs/nightly" as contenders ahead
// of it (as etcd's own Mutex does).
//
// # Leases
//
// By default each handle grants its own lease (WithTTL, default 10 s) at
// its first acquisition and keeps it alive, through the lease package,
// until Close, which revokes it. To attach many locks to one lease, or to
// take locks back after a restart, pass it with WithLease, under the
// contract of the lease package doc ("Leases shared with recipes").
// The TTL bounds how long a crashed or partitioned holder keeps others
// waiting, and how soon a cut-off holder is told it has lost the lock.
package lock
