package node

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"

	"github.com/coordkit/coordkit"
	"github.com/coordkit/coordkit/internal/backoff"
	"github.com/coordkit/coordkit/tlsconfig"
)

// joiner carries a member through joining a running cluster: added as a
// learner before it starts, promoted once it has caught up, removed again
// if anything fails on the way.
type joiner struct {
	cfg   *Config
	cli   *clientv3.Client
	id    uint64 // the learner's ID once added
	added bool
}

// joinRetry paces membership requests that etcd refused definitely.
var joinRetry = backoff.Policy{Initial: 50 * time.Millisecond, Max: 500 * time.Millisecond}

// prepareJoin connects to the running cluster and adds this member as a
// learner with its advertised peer URLs, retrying etcd's definite refusals
// (another learner still catching up, a leader not yet connected long
// enough) until ctx ends. It points ec at the cluster's members.
func prepareJoin(ctx context.Context, cfg *Config, ec *embed.Config) (*joiner, error) {
	if len(cfg.InitialCluster) > 0 || cfg.JoinExisting {
		return nil, fmt.Errorf("%w: Join replaces InitialCluster and JoinExisting: set either Join, or both of those", ErrInvalidArgument)
	}
	jc := *cfg.Join
	if jc.Logger == nil {
		jc.Logger = cfg.Logger
	}
	cli, err := coordkit.Connect(ctx, jc)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrJoin, err)
	}
	j := &joiner{cfg: cfg, cli: cli}
	peers := make([]string, len(ec.AdvertisePeerUrls))
	for i, u := range ec.AdvertisePeerUrls {
		peers[i] = u.String()
	}
	retry := backoff.New(joinRetry)
	for {
		added, members, err := coordkit.AddLearner(ctx, cli, peers)
		if err == nil {
			j.id, j.added = added.ID, true
			ec.InitialCluster = initialClusterFor(cfg.name(), added, members)
			ec.ClusterState = embed.ClusterStateFlagExisting
			return j, nil
		}
		if !membershipRefused(err) {
			cli.Close()
			return nil, fmt.Errorf("%w: %w", ErrJoin, err)
		}
		if werr := retry.Wait(ctx); werr != nil {
			cli.Close()
			return nil, fmt.Errorf("%w: %w (last refusal: %w)", ErrJoin, werr, err)
		}
	}
}

// promote makes the started learner a voter, retrying while etcd says it
// has not caught up yet, until ctx ends.
func (j *joiner) promote(ctx context.Context) error {
	retry := backoff.New(joinRetry)
	for {
		err := coordkit.PromoteMember(ctx, j.cli, j.id)
		if err == nil {
			return nil
		}
		if !membershipRefused(err) {
			return fmt.Errorf("%w: %w", ErrJoin, err)
		}
		if werr := retry.Wait(ctx); werr != nil {
			return fmt.Errorf("%w: %w (last refusal: %w)", ErrJoin, werr, err)
		}
	}
}

// undo removes the member this join added, so no half-added member stays
// in the member list. It runs after a failure, when the caller's ctx may be
// over, so it has a bounded context of its own. A failed removal is
// reported with the command that finishes it by hand.
func (j *joiner) undo(ctx context.Context) error {
	if !j.added {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	retry := backoff.New(joinRetry)
	for {
		_, err := j.cli.MemberRemove(ctx, j.id)
		if err == nil || errors.Is(err, rpctypes.ErrMemberNotFound) {
			j.added = false
			return nil
		}
		if werr := retry.Wait(ctx); werr != nil {
			return fmt.Errorf("could not remove the member it added (%x): %w; remove it with `etcdctl member remove %x`", j.id, err, j.id)
		}
	}
}

func (j *joiner) close() { j.cli.Close() }

// membershipRefused reports whether err is a definite refusal of a
// membership change that may succeed later (nothing was changed).
func membershipRefused(err error) bool {
	return errors.Is(err, coordkit.ErrQuorumAtRisk) || errors.Is(err, coordkit.ErrLearnerNotReady)
}

// initialClusterFor renders the --initial-cluster value a newly added
// member starts with: every started member and the new one (whose name is
// not known to the cluster yet), as `etcdctl member add` prints it.
func initialClusterFor(name string, added coordkit.Member, members []coordkit.Member) string {
	var parts []string
	for _, m := range members {
		n := m.Name
		if m.ID == added.ID {
			n = name
		}
		if n == "" {
			continue // added but never started: it cannot vote yet
		}
		for _, u := range m.PeerURLs {
			parts = append(parts, n+"="+u)
		}
	}
	return strings.Join(parts, ",")
}

// Leave removes this member from its cluster and closes it: the
// counterpart of Join. A leader hands leadership over first. The removal is
// sent through the other members' client URLs (with this member's ClientTLS
// files, if any), so its answer does not depend on the member being
// removed. etcd refuses to remove a voting member while that could cost the
// cluster its quorum, for instance within 5 s of another member joining;
// those refusals are definite and retried until ctx ends. The last voting
// member cannot leave (coordkit.ErrLastMember): Close it instead.
//
// Errors wrap coordkit.ErrLastMember, coordkit.ErrQuorumAtRisk (still
// refused when ctx ended), ErrStopped, coordkit.ErrUnreachable, or the
// client's error; the node is closed only when Leave succeeds.
func (n *Node) Leave(ctx context.Context) error {
	if err := n.alive("leave"); err != nil {
		return err
	}
	ms, err := coordkit.Members(ctx, n.client)
	if err != nil {
		return fmt.Errorf("node: leave %q: %w", n.Name(), err)
	}
	var others []string
	for _, m := range ms {
		if m.ID != n.ID() && m.Name != "" && !m.IsLearner {
			others = append(others, m.ClientURLs...)
		}
	}
	if len(others) == 0 {
		return fmt.Errorf("node: leave %q: %w; close it instead", n.Name(), coordkit.ErrLastMember)
	}
	cc := coordkit.ClientConfig{Endpoints: others, Logger: n.logger}
	if n.cfg.ClientTLS != nil {
		if cc.TLS, err = tlsconfig.Client(*n.cfg.ClientTLS); err != nil {
			return fmt.Errorf("node: leave %q: client TLS from ClientTLS: %w", n.Name(), err)
		}
	}
	cli, err := coordkit.Connect(ctx, cc)
	if err != nil {
		return fmt.Errorf("node: leave %q: %w", n.Name(), err)
	}
	defer cli.Close()
	stepDown(n.etcd, n.ElectionTimeout())
	retry := backoff.New(joinRetry)
	for {
		err := coordkit.RemoveMember(ctx, cli, n.ID())
		if err == nil {
			break
		}
		if !errors.Is(err, coordkit.ErrQuorumAtRisk) {
			return fmt.Errorf("node: leave %q: %w", n.Name(), err)
		}
		if werr := retry.Wait(ctx); werr != nil {
			return fmt.Errorf("node: leave %q: %w (while etcd refused: %w)", n.Name(), werr, err)
		}
	}
	return n.Close()
}
