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
// Node.CheckLeaseTTL checks a TTL against an embedded member's timing (a
// client cannot read a remote cluster's election timeout).
package lease
