// Package errs holds the sentinels that mean the same thing in every coordkit
// package, so one misuse or one outcome is one error value wherever it
// happens: a nil client is errs.InvalidArgument in kv, lock, election and
// discovery alike, and a write that may have been applied is
// errs.UnknownOutcome whichever recipe sent it. Each public package exports
// the ones it returns under the same name (kv.ErrInvalidArgument,
// lock.ErrInvalidArgument, ...: all the same value).
//
// # Message shape
//
// Every error a coordkit package returns reads
//
//	<package>: <operation> [<subject>]: <sentinel>[: <cause>][; <how to fix>]
//
// for example `kv: get "p/nope": key not found` or
// `lock: new mutex "jobs": invalid argument: nil *clientv3.Client; pass the
// client from coordkit.Connect or node.Client`. Sentinel texts therefore carry
// no package prefix, and a sentinel is never returned bare: it is always
// wrapped with the package and the operation, exactly once.
package errs

import "errors"

// Misuse: the caller passed something that cannot work. Nothing was sent.
var (
	// InvalidArgument: an argument or option is out of range (nil client,
	// nil lease, negative size, an option given twice or with another it
	// excludes).
	InvalidArgument = errors.New("invalid argument")
	// InvalidName: a key, lock, election or service name is empty, too
	// long, or has characters that cannot be used. It also matches
	// InvalidArgument.
	InvalidName error = &kind{msg: "invalid name", is: InvalidArgument}
	// InvalidTTL: a lease TTL below etcd's one-second minimum (or one that
	// cannot survive a leader change, where the caller asked for that
	// check). It also matches InvalidArgument.
	InvalidTTL error = &kind{msg: "invalid lease TTL", is: InvalidArgument}
	// Closed: the handle was closed by its owner; make a new one.
	Closed = errors.New("handle closed")
)

// Write outcomes: every recipe classifies the error of a write it sent in one
// of these two, so a caller always knows whether it may retry.
var (
	// Rejected: the write was refused before it was applied (no leader,
	// quota exceeded, permission denied, a fence that no longer held, a
	// client already closed): nothing was written, so it is safe to retry
	// once the cause is gone.
	Rejected = errors.New("write rejected, not applied")
	// UnknownOutcome: the write was sent but no answer came back (timeout,
	// lost connection, leader change, stopped member): it may or may not
	// have been applied. Never re-send it blindly; read to find out.
	UnknownOutcome = errors.New("write outcome unknown, it may have been applied")
)

// Holds: a lock hold (lock.Held) and a leadership term (election.Term) end
// the same ways and report it with the same values.
var (
	// NotHeld: a write fenced by a lock hold or a term was refused because
	// the hold or term had already ended; nothing was applied. It also
	// matches Rejected.
	NotHeld error = &kind{msg: "not held (the lock or term fencing this write has ended), nothing applied", is: Rejected}
	// Lost: the hold or term ended without its owner asking: its lease
	// expired or was revoked, or its key was deleted.
	Lost = errors.New("lost")
	// Released: the owner ended the hold or term (Unlock, Resign, Close).
	Released = errors.New("released by its owner")
	// LeaseLost: the lease ended while waiting to acquire (lock) or to be
	// elected (election); nothing is held. Grant or open a new lease, or
	// let the handle grant its own.
	LeaseLost = errors.New("lease ended before acquiring")
	// KeyDeleted: the key a hold, term or registration owned was deleted
	// (by another client, `etcdctl del`) or replaced by a key of another
	// create revision. Lost wraps it when that is why a hold or term ended.
	KeyDeleted = errors.New("key deleted or replaced")
)

// Members: the etcd member serving the request has stopped.
var (
	// MemberStopped: the etcd member that served (or was to serve) the
	// request stopped. For a write it comes with UnknownOutcome unless the
	// request was never sent (then Rejected).
	MemberStopped = errors.New("etcd member stopped")
)

// kind is a sentinel that also matches a broader one.
type kind struct {
	msg string
	is  error
}

func (k *kind) Error() string        { return k.msg }
func (k *kind) Is(target error) bool { return target == k.is }

// Narrow returns a package-specific sentinel with text msg that also
// matches broader (errors.Is), as InvalidName matches InvalidArgument: for
// example discovery.ErrInvalidInstance, which is an InvalidArgument.
func Narrow(msg string, broader error) error { return &kind{msg: msg, is: broader} }
