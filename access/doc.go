// Package access declares etcd's users, roles and permissions as data and
// applies them to a cluster: a Spec of roles (read, write or readwrite on a
// key, a prefix or a range), users (with a password, or none for
// certificate authentication, where etcd takes the user name from the
// client certificate's CN) and the root user. Apply makes the cluster
// match the Spec and then enables auth; Verify checks that it does.
//
// Guarantees:
//
//   - Idempotent: applying a Spec the cluster already matches changes
//     nothing (not even etcd's auth revision, which would invalidate every
//     token issued so far).
//   - Conservative: users and roles the Spec does not list are left alone
//     unless RemoveUnlisted is passed. Listed roles get exactly the listed
//     permissions, and listed users exactly the listed roles.
//   - Honest about partial failure: Apply returns the changes it made even
//     when a later step fails, and the error says which step failed.
//   - Secret-free: neither reports nor errors contain a password.
//
// The same Spec can be applied when an embedded node starts
// (node.Config.Auth) or, with one call, to a remote cluster through
// any client authenticated as root (or unauthenticated while auth is still
// off).
//
// # Least privilege per recipe
//
// KV, Lock, RWLock, Semaphore, Election and Discovery return the
// permissions each coordkit recipe needs for one prefix, lock, election or
// discovery namespace, so a role can cover exactly what a service uses
// without reverse-engineering key layouts. Leases need no permission of
// their own (see Leases).
//
// The package is client-side: it does not import etcd's server.
package access
