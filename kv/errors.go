package kv

import (
	"context"
	"errors"
	"fmt"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit/internal/errs"
	"github.com/coordkit/coordkit/internal/etcderr"
)

// Errors returned by the package, always wrapped as
// `kv: <operation> <key>: <error>[: cause][; how to fix]` (the message shape of
// every coordkit package); test for them with errors.Is. Errors that come
// from etcd also wrap etcd's own error (rpctypes), so errors.Is works for
// those too.
//
// The sentinels shared with the other coordkit packages are the same values
// there (kv.ErrRejected == lock.ErrRejected, ...).
var (
	// ErrInvalidArgument: an option or argument is out of range (a negative
	// revision, a nil client, a codec of the wrong type...). Nothing was
	// sent.
	ErrInvalidArgument = errs.InvalidArgument
	// ErrInvalidName: the key is empty; every key needs a name under the
	// store's prefix. It also matches ErrInvalidArgument.
	ErrInvalidName = errs.InvalidName
	// ErrRejected: etcd refused the write before applying it (no leader,
	// quota exceeded, permission denied...), or it was never sent because
	// the etcd client was closed or its member had stopped: nothing was
	// written, so it is safe to retry once the cause is gone.
	ErrRejected = errs.Rejected
	// ErrUnknownOutcome: the write was sent but no answer came back
	// (timeout, lost connection, leader change, the member stopped): it may
	// or may not have been applied; read the key to find out.
	ErrUnknownOutcome = errs.UnknownOutcome
	// ErrMemberStopped: the etcd member serving the request stopped. A
	// write comes with ErrRejected as well if it was never sent (the
	// in-process client of a stopped node), else with ErrUnknownOutcome.
	ErrMemberStopped = errs.MemberStopped
	// ErrClosed: the Batcher was closed.
	ErrClosed = errs.Closed
)

// Errors of kv alone.
var (
	// ErrNotFound: Get found no value under the key.
	ErrNotFound = errors.New("key not found")
	// ErrExists: Create found the key already there.
	ErrExists = errors.New("key already exists")
	// ErrConflict: the key's mod revision was not the expected one
	// (CompareAndSwap, CompareAndDelete); nothing was written.
	ErrConflict = errors.New("key changed since it was read (mod revision mismatch)")
	// ErrTooManyConflicts: Update lost the race on every attempt it was
	// allowed; nothing was written.
	ErrTooManyConflicts = errors.New("update gave up after too many conflicting writes")
	// ErrTooLarge: the key, value or batch exceeds the request size limit
	// (MaxRequestBytes unless changed with WithMaxRequestBytes). Found before
	// sending, or reported by etcd; either way nothing was written.
	ErrTooLarge = errors.New("request too large")
	// ErrCodec: the codec could not encode or decode a value; the message
	// names the key.
	ErrCodec = errors.New("codec failed")
	// ErrCompacted: a read or watch asked for a revision etcd has compacted
	// away.
	ErrCompacted = errors.New("revision compacted")
	// ErrFutureRevision: a read asked for a revision etcd has not reached.
	ErrFutureRevision = errors.New("revision in the future")
	// ErrLeaseNotFound: the write named a lease etcd does not have (expired
	// or revoked); nothing was written.
	ErrLeaseNotFound = errors.New("lease not found (expired or revoked)")
)

// writeErr wraps the error of a write request that was sent. Only errors
// known to mean "not applied" are reported as such (ErrRejected, with
// ErrLeaseNotFound or ErrTooLarge when that is why); everything else
// (timeouts, lost connections, leader changes, cancelled contexts, a member
// that stopped while the write was in flight) may have been applied and
// wraps ErrUnknownOutcome.
func writeErr(op, key string, err error) error {
	switch {
	case errors.Is(err, rpctypes.ErrLeaseNotFound):
		return fmt.Errorf("kv: %s %q: %w: %w: %w; grant a new lease (or keep the lease alive) and write again", op, key, ErrLeaseNotFound, ErrRejected, err)
	case errors.Is(err, rpctypes.ErrRequestTooLarge):
		return fmt.Errorf("kv: %s %q: %w: %w: %w; the server's --max-request-bytes is lower than this client assumed, lower WithMaxRequestBytes to match", op, key, ErrTooLarge, ErrRejected, err)
	case etcderr.Rejected(err):
		return fmt.Errorf("kv: %s %q: %w", op, key, etcderr.Outcome(err))
	default:
		return fmt.Errorf("kv: %s %q: %w; read the key to learn whether it was applied before writing again", op, key, etcderr.Outcome(err))
	}
}

// readErr wraps the error of a read.
func readErr(op, key string, rev int64, err error) error {
	switch {
	case errors.Is(err, rpctypes.ErrCompacted):
		return fmt.Errorf("kv: %s %q at revision %d: %w: %w; read at a later revision (or the current one)", op, key, rev, ErrCompacted, err)
	case errors.Is(err, rpctypes.ErrFutureRev):
		return fmt.Errorf("kv: %s %q at revision %d: %w: %w", op, key, rev, ErrFutureRevision, err)
	default:
		return fmt.Errorf("kv: %s %q: %w", op, key, etcderr.WrapMemberStopped(err))
	}
}

// notSent is the error for a write whose context ended before it was sent:
// definitely not applied, so a rejection (as lock's and election's fenced
// writes say it).
func notSent(op, key string, ctx context.Context) error {
	return fmt.Errorf("kv: %s %q: %w", op, key, etcderr.NotSent(ctx))
}

// unsent says why a write about to be sent on cli cannot go out: ctx ended,
// or the client is closed (ErrRejected). Either way nothing was written;
// nil means send it.
func unsent(ctx context.Context, cli *clientv3.Client, op, key string) error {
	if err := etcderr.Unsent(ctx, cli); err != nil {
		return fmt.Errorf("kv: %s %q: %w", op, key, err)
	}
	return nil
}
