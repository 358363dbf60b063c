package access

import "strings"

// The helpers below return the least permissions each coordkit recipe
// needs, following the key layouts documented in its package. Put them in
// a Role:
//
//	access.Role{Name: "billing", Permissions: slices.Concat(
//		access.KV("billing/config", access.ReadWrite),
//		access.Lock("billing/jobs/nightly"),
//		access.Discovery("", access.ReadWrite),
//	)}

// KV returns the permissions for a kv.Store on prefix: Read for a store
// that only gets, lists and watches, ReadWrite for one that also writes
// (every write of kv reads too: Update, CompareAndSwap and Batcher compare
// before writing). The prefix is normalised as kv.New does ("svc" and
// "svc/" both mean the keys under "svc/"); the empty prefix is the whole
// keyspace.
func KV(prefix string, p Perm) []Permission {
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	return []Permission{OnPrefix(prefix, p)}
}

// Lock returns the permissions for lock.NewMutex, lock.NewRWMutex,
// lock.NewSemaphore and lock.Run on name: read and write under name + "/"
// (contender keys name/<lease>, RWMutex's name/read/ and name/write/,
// Semaphore's name/holders/ and name/limit). `etcdctl lock name` needs the
// same.
func Lock(name string) []Permission {
	return []Permission{OnPrefix(name+"/", ReadWrite)}
}

// Election returns the permissions for election.New(cli, name) to
// campaign, proclaim, resign and observe: read and write under name + "/"
// (candidate keys name/<lease>). An observer that never campaigns needs
// only ElectionObserver. `etcdctl elect name` needs the same.
func Election(name string) []Permission {
	return []Permission{OnPrefix(name+"/", ReadWrite)}
}

// ElectionObserver returns the permissions for election.Leader and
// Observe on name: read under name + "/".
func ElectionObserver(name string) []Permission {
	return []Permission{OnPrefix(name+"/", Read)}
}

// Discovery returns the permissions for discovery in namespace ns (empty
// means discovery.DefaultNamespace), for every service in it: ReadWrite to
// register (Register writes <ns>/<service>/<id> and reads it back) and
// watch, Read to watch and resolve only. DiscoveryService narrows it to
// one service.
func Discovery(ns string, p Perm) []Permission {
	return []Permission{OnPrefix(discoveryNS(ns)+"/", p)}
}

// DiscoveryService is Discovery for the one service named service.
func DiscoveryService(ns, service string, p Perm) []Permission {
	return []Permission{OnPrefix(discoveryNS(ns)+"/"+service+"/", p)}
}

// defaultDiscoveryNamespace is discovery.DefaultNamespace (not imported, to
// keep this package free of the recipes; a test checks they agree).
const defaultDiscoveryNamespace = "coordkit/services"

func discoveryNS(ns string) string {
	if ns == "" {
		return defaultDiscoveryNamespace
	}
	return ns
}

// Leases returns the permissions the lease package needs of its own: none.
// etcd lets any authenticated user grant a lease and keep it alive. Three
// lease operations are checked against the keys attached to the lease:
// revoking it needs write permission on each, reading its time to live
// needs read permission on each, and attaching a new key needs write
// permission on each key already attached. The recipes' own permissions
// (KV, Lock, Election, Discovery) give exactly that for the keys they
// attach; a lease shared between recipes (WithLease) needs the union of
// their permissions.
func Leases() []Permission { return nil }
