package etcderr

import (
	"context"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit/internal/errs"
)

// Outcome classifies the error of a write a recipe sent (or refused to send
// because its client was closed): the returned error wraps errs.Rejected
// when err proves the write was not applied, errs.UnknownOutcome otherwise,
// errs.MemberStopped when the serving member had stopped, and err itself
// (with ErrNoSpace for a full database). Such a write is never re-sent;
// only a rejection may be retried.
func Outcome(err error) error {
	outcome := errs.UnknownOutcome
	if Rejected(err) {
		outcome = errs.Rejected
	}
	return fmt.Errorf("%w: %w", outcome, WrapMemberStopped(WrapNoSpace(err)))
}

// NotSent is the error for a write that was not sent because ctx had
// ended: a rejection (nothing applied), wrapping ctx's cause.
func NotSent(ctx context.Context) error {
	return fmt.Errorf("%w: not sent: %w", errs.Rejected, context.Cause(ctx))
}

// Unsent says why a write about to be sent through cli cannot go out: ctx
// has ended (NotSent) or cli is closed (ClientClosed, classified by
// Outcome). Either way the error wraps errs.Rejected: nothing was sent.
// Nil means send it. Call it right before sending.
func Unsent(ctx context.Context, cli *clientv3.Client) error {
	if ctx.Err() != nil {
		return NotSent(ctx)
	}
	if err := ClientClosed(cli); err != nil {
		return Outcome(err)
	}
	return nil
}
