package waitqueue

import (
	"sync"

	"github.com/coordkit/coordkit/lease"
)

// Claims tell a restart from a second handle. A key named after its lease
// (a Mutex's, an election candidate's) that exists in etcd when an
// acquisition starts is either left by an earlier process on the same
// lease, which restarted and opened the lease again (lease.Open): then it
// is reclaimed, keeping its place and fencing token; or it belongs to
// another handle of this process sharing the lease: then the acquisition
// waits for it to go, as any other contender would. Each acquisition of
// this process claims its key from before creating it until the key is
// deleted or the acquisition ends; leases are told apart by handle
// (*lease.Lease), so a process that opens its lease again is a new owner.
var claims = struct {
	sync.Mutex
	m map[claimKey]map[any]struct{}
}{m: map[claimKey]map[any]struct{}{}}

type claimKey struct {
	l   *lease.Lease
	key string
}

// Claim records that the acquisition id (any comparable value unique to
// it) uses key on l, replacing its claim was (nil for none): an id that
// changes as the acquisition learns more, a create revision say.
func Claim(l *lease.Lease, key string, id, was any) {
	c := claimKey{l: l, key: key}
	claims.Lock()
	defer claims.Unlock()
	set := claims.m[c]
	if set == nil {
		set = map[any]struct{}{}
		claims.m[c] = set
	}
	if was != nil {
		delete(set, was)
	}
	set[id] = struct{}{}
}

// ClaimedByOthers says whether an acquisition other than id claims key on l.
func ClaimedByOthers(l *lease.Lease, key string, id any) bool {
	claims.Lock()
	defer claims.Unlock()
	for other := range claims.m[claimKey{l: l, key: key}] {
		if other != id {
			return true
		}
	}
	return false
}

// Unclaim gives up id's claim on key of l, if any. It is idempotent.
func Unclaim(l *lease.Lease, key string, id any) {
	c := claimKey{l: l, key: key}
	claims.Lock()
	defer claims.Unlock()
	if set, ok := claims.m[c]; ok {
		delete(set, id)
		if len(set) == 0 {
			delete(claims.m, c)
		}
	}
}
