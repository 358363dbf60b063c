// Package lease manages etcd leases: grant, keep alive, revoke, inspect.
//
// A *Lease is the one keep-alive mechanism in coordkit: lock, election and
// discovery accept an existing Lease, so a process can hold one lease per
// TTL and attach every key it owns to it, rather than one lease per handle.
//
// Guarantees:
//
//   - KeepAlive runs in the background and never dies silently: when the
//     lease is lost, Done is closed and Err says why (see KeepAlive for
//     each cause).
//   - Loss is decided conservatively. The deadline of a renewal counts from
//     the moment the keep-alive was sent, not when its answer arrived (see
//     Deadline), so Done closes no later than the server can expire the
//     lease (bar clock rate differences between machines), never after.
//   - Keep-alives are single requests, one per TTL/3, so there is no stream
//     whose response queue can fill ("keepalive response queue is full").
//
// The keep-alive logs failed renewals and losses to slog.Default() unless
// WithLogger says otherwise.
//
// # Leases shared with recipes
//
// lock, election and discovery take a caller's lease with their WithLease
// option, under one contract:
//
//   - The caller owns the lease. The handle starts its KeepAlive if it is
//     not running (a no-op otherwise), and never revokes, closes or replaces
//     it; the caller revokes it (or closes it) when done. Closing a handle,
//     unlocking, resigning or deregistering removes only the handle's keys.
//   - When the lease is lost (Done closes), everything held on it ends: a
//     lock hold and an election term end with their package's ErrLost,
//     wrapping the lease's error (ErrExpired, ErrRevoked, ErrDeadlinePassed,
//     ...), a discovery registration ends and says so; an acquisition still
//     waiting (Lock, Campaign) fails with its package's ErrLeaseLost. A
//     lost lease is not replaced: grant a new one and make new handles.
//   - Keys are named after the lease, so a process that restarts and opens
//     its lease again (Open with the saved ID) takes back what it held on
//     it: a Mutex whose key is still the owner is acquired at once with the
//     same fencing token (a waiting one resumes its place), a candidate
//     resumes its campaign or leadership, a registration reuses its key.
//     (RWMutex and Semaphore keys carry a random suffix, several per lease,
//     so theirs are not taken back: they expire with the lease or are
//     deleted with it.)
//     Handles of one process sharing one *Lease do not take each other's
//     keys: they queue as any other contenders would.
//
// Without WithLease, a handle grants a lease of its own (its WithTTL, 10 s
// by default), keeps it alive and revokes it when closed (an election's
// campaign: when its term or the campaign ends).
//
// Context is the lease's loss as a context, for work that must stop with
// it.
//
// TTLs are whole seconds, as in etcd: Grant rejects a TTL under one second
// and rounds others up. etcd also enforces its own minimum, 1.5 × the
// election timeout rounded up to seconds (2 s with etcd's default 1 s
// election timeout); a smaller TTL is granted as that minimum, and TTL
// reports what was granted.
//
// A lease survives a change of raft leader (a leader's member killed, say)
// only if its TTL is at least 3 × the cluster's election timeout + 1 s: 4 s
// with etcd's default 1 s election timeout. Shorter leases are reported lost
// while the cluster elects. coordkit.MinLeaseTTL computes the bound and
// node.Node.CheckLeaseTTL checks a TTL against an embedded member's timing (a
// client cannot read a remote cluster's election timeout).
package lease
