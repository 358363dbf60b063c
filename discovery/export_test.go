package discovery

// Hooks for the external tests: how the shared watches behave inside.

// Relists is how many times w's shared watch listed the service again
// after its first list (on compaction, breaks and ResolveNow).
func Relists(w *Watcher) int64 { return w.h.relists.Load() }

// SameWatch reports whether two Watchers share one etcd watch.
func SameWatch(a, b *Watcher) bool { return a.h == b.h }

// Watches is the number of etcd watches of services in the process.
func Watches() int {
	hubs.Lock()
	defer hubs.Unlock()
	return len(hubs.m)
}

// ResolverWatcher is the Watcher behind a resolver NewResolverBuilder built.
func ResolverWatcher(r any) *Watcher { return r.(*grpcResolver).w }

// SignsOfLife is how often w's shared watch, while quiet, was found alive:
// by a progress notification, and by a probe that found the cache current.
func SignsOfLife(w *Watcher) (progress, probes int64) {
	return w.h.progressed.Load(), w.h.probed.Load()
}

// StaleSpells is how often w's cache turned stale after being current.
func StaleSpells(w *Watcher) int64 { return w.h.staleSpells.Load() }

// Registries is the number of etcd watches of registration keys in the
// process: one per service and client.
func Registries() int {
	registries.Lock()
	defer registries.Unlock()
	return len(registries.m)
}
