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
	m map[claimKey][]any // usually one claim a key: no map of its own
}{m: map[claimKey][]any{}}

type claimKey struct {
	l   *lease.Lease
	key string
}

// Claim records that the acquisition id (any comparable value unique to
// it among the acquisitions of key on l) uses key on l, replacing its
// claim was (nil for none): an id that changes as the acquisition learns
// more, a create revision say.
func Claim(l *lease.Lease, key string, id, was any) {
	c := claimKey{l: l, key: key}
	claims.Lock()
	defer claims.Unlock()
	ids := claims.m[c]
	if was != nil {
		ids = remove(ids, was)
	}
	claims.m[c] = append(ids, id)
}

// ClaimedByOthers says whether an acquisition other than id claims key on l.
func ClaimedByOthers(l *lease.Lease, key string, id any) bool {
	claims.Lock()
	defer claims.Unlock()
	for _, other := range claims.m[claimKey{l: l, key: key}] {
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
	ids, ok := claims.m[c]
	if !ok {
		return
	}
	if ids = remove(ids, id); len(ids) == 0 {
		delete(claims.m, c)
	} else {
		claims.m[c] = ids
	}
}

// remove deletes id from ids, if there.
func remove(ids []any, id any) []any {
	for i, other := range ids {
		if other == id {
			ids[i] = ids[len(ids)-1]
			ids[len(ids)-1] = nil
			return ids[:len(ids)-1]
		}
	}
	return ids
}
