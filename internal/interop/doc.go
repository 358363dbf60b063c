// Package interop holds tests that check coordkit against the real etcdctl
// binary (Debian's etcd-client): what coordkit writes, etcdctl sees, and the
// other way round. The tests skip when etcdctl is not installed.
package interop
