package coordkit

import (
	"fmt"
	"time"
)

// How a lease TTL relates to the election timeout.
//
// coordkit's lease keep-alive renews every TTL/3 and reports a lease lost
// once no renewal sent within the last TTL has been confirmed (the lease
// package's conservative deadline). When the raft leader's member dies,
// renewals cannot be confirmed until a new leader is elected: followers
// notice the silence after a randomized election timeout of between one and
// two election timeouts, then elect within a round trip; a renewal sent
// meanwhile is held by its member and forwarded as soon as there is a
// leader. In the worst case the leader dies just before a renewal was due,
// leaving two thirds of the TTL to get one through, so a lease survives a
// leader change when
//
//	2/3 × TTL > 2 × election timeout + margin, that is TTL ≥ 3 × election timeout + 1 s
//
// (the margin covers round trips and a loaded machine). etcd's new leader
// extends every lease by an election timeout itself, so the cluster does not
// expire leases in that window either. MinLeaseTTL computes the bound;
// with etcd's default 1 s election timeout it is 4 s, and the 10 s defaults
// of the lock, election and discovery packages survive a leader change for
// election timeouts up to 3 s.
//
// A client that connects to a remote cluster cannot read the cluster's
// election timeout (etcd does not expose it), so the check lives where the
// timing is known: Node.CheckLeaseTTL (package node) for an embedded member,
// CheckLeaseTTL when you know the cluster's --election-timeout.

// MinLeaseTTL returns the shortest lease TTL that survives a change of raft
// leader in a cluster with the given election timeout: 3 × electionTimeout
// + 1 s, rounded up to whole seconds as etcd grants them. A zero or negative
// electionTimeout means etcd's default, 1 s.
func MinLeaseTTL(electionTimeout time.Duration) time.Duration {
	if electionTimeout <= 0 {
		electionTimeout = time.Second
	}
	d := 3*electionTimeout + time.Second
	return (d + time.Second - 1).Truncate(time.Second)
}

// CheckLeaseTTL returns an error wrapping ErrInvalidTTL, naming the
// numbers, when ttl is shorter than MinLeaseTTL(electionTimeout): leases
// with that TTL can be lost whenever the cluster changes leader.
func CheckLeaseTTL(ttl, electionTimeout time.Duration) error {
	if electionTimeout <= 0 {
		electionTimeout = time.Second
	}
	if min := MinLeaseTTL(electionTimeout); ttl < min {
		return fmt.Errorf("coordkit: check lease TTL: %w: TTL %v < %v (3 × election timeout %v + 1 s): a leader change takes up to 2 × %v, and a keep-alive renewing every TTL/3 has only 2/3 of the TTL to get through it; use a TTL of at least %v",
			ErrInvalidTTL, ttl, min, electionTimeout, electionTimeout, min)
	}
	return nil
}
