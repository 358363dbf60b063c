package coordkit

import (
	"context"
	"errors"
	"fmt"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit/internal/errs"
)

// Membership changes from Go, the counterparts of `etcdctl member add`,
// `member promote` and `member remove` (Members is `member list`). They are
// client-side: they work through any *clientv3.Client, remote or an embedded node's.
//
// etcd's strict reconfiguration check (on by default) refuses changes that
// could cost the cluster its quorum: adding a voter while too few members
// are started or connected, removing a voter when the remaining ones could
// not form a quorum. Those refusals are definite (nothing changed) and come
// back wrapping ErrQuorumAtRisk; wait and try again once the cluster is
// healthy. Adding a voting member directly is allowed, but the safe way to
// grow is AddLearner, start the member, then PromoteMember once it caught up
// (node.Config.Join does all three).

// AddMember adds a voting member with the given peer URLs and returns it
// (with an empty Name until it starts) and the cluster's members after the
// change. The member must be started with node.Config.JoinExisting and an
// InitialCluster naming the started members and itself.
//
// Errors wrap ErrQuorumAtRisk, ErrInvalidArgument (bad or duplicate URLs),
// or the client's error.
func AddMember(ctx context.Context, cli *clientv3.Client, peerURLs []string) (Member, []Member, error) {
	return addMember(ctx, cli, peerURLs, false)
}

// AddLearner adds a non-voting member (a learner) with the given peer URLs:
// it receives the log but does not count for quorum until PromoteMember. It
// returns the learner and the cluster's members after the change.
//
// Errors wrap ErrQuorumAtRisk (the cluster is not healthy enough, or has
// as many learners as it allows, one by default: a definite refusal),
// ErrInvalidArgument (bad or duplicate URLs), or the client's error.
func AddLearner(ctx context.Context, cli *clientv3.Client, peerURLs []string) (Member, []Member, error) {
	return addMember(ctx, cli, peerURLs, true)
}

func addMember(ctx context.Context, cli *clientv3.Client, peerURLs []string, learner bool) (Member, []Member, error) {
	what := "member add"
	if learner {
		what = "member add --learner"
	}
	if cli == nil {
		return Member{}, nil, fmt.Errorf("coordkit: %s: %w", what, errs.NilClient)
	}
	if len(peerURLs) == 0 {
		return Member{}, nil, fmt.Errorf("coordkit: %s: %w: no peer URLs; give the new member's advertised peer URLs", what, ErrInvalidArgument)
	}
	var (
		resp *clientv3.MemberAddResponse
		err  error
	)
	if learner {
		resp, err = cli.MemberAddAsLearner(ctx, peerURLs)
	} else {
		resp, err = cli.MemberAdd(ctx, peerURLs)
	}
	if err != nil {
		return Member{}, nil, fmt.Errorf("coordkit: %s %v: %w", what, peerURLs, membershipError(err))
	}
	return memberFrom(resp.Member), membersFrom(resp.Members), nil
}

// PromoteMember makes a learner a voting member. etcd promotes only a
// learner whose log has caught up with the leader's; until then it refuses
// with an error wrapping ErrLearnerNotReady, which is definite: try again.
//
// Errors wrap ErrLearnerNotReady, ErrMemberNotFound, ErrNotLearner,
// ErrQuorumAtRisk, or the client's error.
func PromoteMember(ctx context.Context, cli *clientv3.Client, id uint64) error {
	if cli == nil {
		return fmt.Errorf("coordkit: member promote %x: %w", id, errs.NilClient)
	}
	if _, err := cli.MemberPromote(ctx, id); err != nil {
		return fmt.Errorf("coordkit: member promote %x: %w", id, membershipError(err))
	}
	return nil
}

// RemoveMember removes a member from the cluster. It refuses to remove the
// last voting member (ErrLastMember), and etcd refuses a removal that would
// leave the remaining voters without a started, connected quorum
// (ErrQuorumAtRisk). A removed member stops itself; its data directory cannot
// be used to rejoin.
//
// Errors wrap ErrLastMember, ErrQuorumAtRisk, ErrMemberNotFound, or the
// client's error.
func RemoveMember(ctx context.Context, cli *clientv3.Client, id uint64) error {
	if cli == nil {
		return fmt.Errorf("coordkit: member remove %x: %w", id, errs.NilClient)
	}
	resp, err := cli.MemberList(ctx)
	if err != nil {
		return fmt.Errorf("coordkit: member remove %x: member list: %w", id, err)
	}
	ms := membersFrom(resp.Members)
	var target *Member
	voters := 0
	for i, m := range ms {
		if m.ID == id {
			target = &ms[i]
		}
		if !m.IsLearner {
			voters++
		}
	}
	if target == nil {
		return fmt.Errorf("coordkit: member remove %x: %w; `etcdctl member list` shows the IDs", id, ErrMemberNotFound)
	}
	if !target.IsLearner && voters == 1 {
		return fmt.Errorf("coordkit: member remove %x (%s): %w: it is the cluster's only voting member; close it instead", id, target.Name, ErrLastMember)
	}
	if _, err := cli.MemberRemove(ctx, id); err != nil {
		return fmt.Errorf("coordkit: member remove %x (%s): %w", id, target.Name, membershipError(err))
	}
	return nil
}

// membershipError maps etcd's membership refusals to coordkit's sentinels,
// keeping etcd's error in the chain.
func membershipError(err error) error {
	switch {
	case errors.Is(err, rpctypes.ErrMemberNotEnoughStarted):
		return fmt.Errorf("%w: too few members are started for this change: %w", ErrQuorumAtRisk, err)
	case errors.Is(err, rpctypes.ErrUnhealthy):
		return fmt.Errorf("%w: the leader has not been connected to enough members for 5 s (etcd's health interval): %w", ErrQuorumAtRisk, err)
	case errors.Is(err, rpctypes.ErrTooManyLearners):
		return fmt.Errorf("%w: the cluster already has as many learners as it allows; promote or remove one first: %w", ErrQuorumAtRisk, err)
	case errors.Is(err, rpctypes.ErrMemberLearnerNotReady):
		return fmt.Errorf("%w: %w", ErrLearnerNotReady, err)
	case errors.Is(err, rpctypes.ErrMemberNotFound):
		return fmt.Errorf("%w: %w", ErrMemberNotFound, err)
	case errors.Is(err, rpctypes.ErrMemberNotLearner):
		return fmt.Errorf("%w: %w", ErrNotLearner, err)
	case errors.Is(err, rpctypes.ErrPeerURLExist), errors.Is(err, rpctypes.ErrMemberExist), errors.Is(err, rpctypes.ErrMemberBadURLs):
		return fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	return err
}

func memberFrom(m *etcdserverpb.Member) Member {
	return Member{ID: m.ID, Name: m.Name, PeerURLs: m.PeerURLs, ClientURLs: m.ClientURLs, IsLearner: m.IsLearner}
}

func membersFrom(ms []*etcdserverpb.Member) []Member {
	out := make([]Member, 0, len(ms))
	for _, m := range ms {
		out = append(out, memberFrom(m))
	}
	return out
}
