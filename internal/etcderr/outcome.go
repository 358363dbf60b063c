package etcderr

import (
	"fmt"

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
