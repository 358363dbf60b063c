package coordkit

import (
	"context"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit/internal/errs"
)

// Status is what `etcdctl endpoint status` shows for one member.
type Status struct {
	MemberID   uint64 // this member's ID
	Leader     uint64 // the member ID of the current leader; 0 if none
	IsLeader   bool   // this member leads
	IsLearner  bool   // this member is a non-voting learner
	Revision   int64  // the store's current revision
	RaftTerm   uint64
	RaftIndex  uint64 // last raft log index
	AppliedIdx uint64 // last applied raft index
	DBSize     int64  // bytes allocated by the database file
	DBSizeUsed int64  // bytes in use
	Version    string // etcd server version
	Errors     []string
}

// Member is one member of the cluster, as `etcdctl member list` shows it.
type Member struct {
	ID         uint64
	Name       string // empty until the member has started
	PeerURLs   []string
	ClientURLs []string
	IsLearner  bool
}

// EndpointStatus reports the status of the member behind one endpoint of
// cli, like `etcdctl endpoint status` does for each of its endpoints.
func EndpointStatus(ctx context.Context, cli *clientv3.Client, endpoint string) (Status, error) {
	if cli == nil {
		return Status{}, fmt.Errorf("coordkit: endpoint status %s: %w", endpoint, errs.NilClient)
	}
	resp, err := cli.Status(ctx, endpoint)
	if err != nil {
		return Status{}, fmt.Errorf("coordkit: endpoint status %s: %w", endpoint, err)
	}
	return statusFrom(resp), nil
}

func statusFrom(r *clientv3.StatusResponse) Status {
	return Status{
		MemberID:   r.Header.MemberId,
		Leader:     r.Leader,
		IsLeader:   r.Leader != 0 && r.Leader == r.Header.MemberId,
		IsLearner:  r.IsLearner,
		Revision:   r.Header.Revision,
		RaftTerm:   r.RaftTerm,
		RaftIndex:  r.RaftIndex,
		AppliedIdx: r.RaftAppliedIndex,
		DBSize:     r.DbSize,
		DBSizeUsed: r.DbSizeInUse,
		Version:    r.Version,
		Errors:     r.Errors,
	}
}

// Members lists the members of the cluster cli is connected to.
func Members(ctx context.Context, cli *clientv3.Client) ([]Member, error) {
	if cli == nil {
		return nil, fmt.Errorf("coordkit: member list: %w", errs.NilClient)
	}
	resp, err := cli.MemberList(ctx)
	if err != nil {
		return nil, fmt.Errorf("coordkit: member list: %w", err)
	}
	return membersFrom(resp.Members), nil
}
