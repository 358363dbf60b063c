package discovery

import "errors"

// Errors returned by this package, wrapped with details; test with errors.Is.
var (
	// ErrInvalidService means a service name is empty, too long, or holds a
	// character other than letters, digits, '.', '_', '-' and ':'. A service
	// name is one segment of an etcd key, so '/' in particular is refused.
	ErrInvalidService = errors.New("discovery: invalid service name")

	// ErrInvalidInstance means an Instance cannot be registered: a missing
	// or malformed ID or Addr, a negative Weight, a reserved Metadata key,
	// or an encoded value over MaxValueSize. The message names the field.
	ErrInvalidInstance = errors.New("discovery: invalid instance")

	// ErrInvalidOption means an option is malformed (a TTL under one
	// second, a nil lease, a bad namespace) or does not apply to the call
	// it was given to (WithTTL to Watch, for example).
	ErrInvalidOption = errors.New("discovery: invalid option")

	// ErrClosed means the Registration or Watcher was closed.
	ErrClosed = errors.New("discovery: closed")

	// ErrClientClosed means the etcd client was closed under a live
	// Registration or Watcher: nothing can be read or written any more.
	// Close the Registrations and Watchers before the client.
	ErrClientClosed = errors.New("discovery: etcd client closed")

	// ErrKeyDeleted is why a Registration was lost when someone deleted
	// its key (etcdctl del, a cleanup script): the supervisor puts it back.
	ErrKeyDeleted = errors.New("discovery: registration key deleted")

	// ErrTakenOver means the registration key is held by another lease:
	// another live process registered the same service and ID. IDs must
	// be unique among live instances; the last writer wins.
	ErrTakenOver = errors.New("discovery: registration key held by another process")

	// ErrNoInstances means a Picker found no instance to choose: none is
	// registered, or every one is draining.
	ErrNoInstances = errors.New("discovery: no available instances")

	// ErrStale means a Watcher's cache may be behind etcd: its watch broke
	// or etcd has not answered for a while. The cache still serves the
	// last good snapshot.
	ErrStale = errors.New("discovery: instance cache is stale")
)
