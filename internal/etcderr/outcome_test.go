package etcderr_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/coordkit/coordkit/internal/errs"
	"github.com/coordkit/coordkit/internal/etcderr"
)

// Outcome puts every write error in exactly one class, keeps the cause, and
// marks a stopped member.
func TestOutcomeClasses(t *testing.T) {
	for _, tc := range []struct {
		err              error
		want             error
		stopped, nospace bool
	}{
		{err: rpctypes.ErrNoLeader, want: errs.Rejected},
		{err: rpctypes.ErrNoSpace, want: errs.Rejected, nospace: true},
		{err: etcderr.ErrClientStopped, want: errs.Rejected, stopped: true},
		{err: context.DeadlineExceeded, want: errs.UnknownOutcome},
		{err: status.Error(codes.Unavailable, "transport is closing"), want: errs.UnknownOutcome},
		{err: status.Error(codes.Unknown, "raft: stopped"), want: errs.UnknownOutcome, stopped: true},
	} {
		got := etcderr.Outcome(tc.err)
		require.ErrorIs(t, got, tc.want, "%v", tc.err)
		require.ErrorIs(t, got, tc.err)
		other := errs.UnknownOutcome
		if tc.want == errs.UnknownOutcome {
			other = errs.Rejected
		}
		require.NotErrorIs(t, got, other, "%v", tc.err)
		require.Equal(t, tc.stopped, errors.Is(got, errs.MemberStopped), "%v", tc.err)
		require.Equal(t, tc.nospace, errors.Is(got, etcderr.ErrNoSpace), "%v", tc.err)
	}
}
