package node

import (
	"context"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc"
)

// The gated* types put a clientGate in front of etcd's in-process adapters:
// a call on a stopped node's client is refused unsent, and a call cut short
// by the stop says so (see clientGate.failed).

// call is one unary call through the gate.
func call[Req, Resp any](g *clientGate, ctx context.Context, in *Req, opts []grpc.CallOption,
	f func(context.Context, *Req, ...grpc.CallOption) (*Resp, error)) (*Resp, error) {
	if err := g.refuse(); err != nil {
		return nil, err
	}
	resp, err := f(ctx, in, opts...)
	if err != nil {
		return nil, g.failed(err)
	}
	return resp, nil
}

// gatedServerStream is a server-streaming call through the gate: it ends
// when the node stops.
type gatedServerStream[T any] struct {
	grpc.ServerStreamingClient[T]
	g      *clientGate
	cancel context.CancelFunc
}

func (s *gatedServerStream[T]) Recv() (*T, error) {
	m, err := s.ServerStreamingClient.Recv()
	if err != nil {
		s.cancel()
		return nil, s.g.failed(err)
	}
	return m, nil
}

func serverStream[Req, T any](g *clientGate, ctx context.Context, in *Req, opts []grpc.CallOption,
	f func(context.Context, *Req, ...grpc.CallOption) (grpc.ServerStreamingClient[T], error)) (grpc.ServerStreamingClient[T], error) {
	if err := g.refuse(); err != nil {
		return nil, err
	}
	sctx, cancel := g.streamContext(ctx)
	st, err := f(sctx, in, opts...)
	if err != nil {
		cancel()
		return nil, g.failed(err)
	}
	return &gatedServerStream[T]{ServerStreamingClient: st, g: g, cancel: cancel}, nil
}

// gatedKV spells out its calls (no generic helper): it is the hot path.
type gatedKV struct {
	g  *clientGate
	kv pb.KVClient
}

func (c *gatedKV) Range(ctx context.Context, in *pb.RangeRequest, opts ...grpc.CallOption) (*pb.RangeResponse, error) {
	if err := c.g.refuse(); err != nil {
		return nil, err
	}
	resp, err := c.kv.Range(ctx, in, opts...)
	if err != nil {
		return nil, c.g.failed(err)
	}
	return resp, nil
}

func (c *gatedKV) RangeStream(ctx context.Context, in *pb.RangeRequest, opts ...grpc.CallOption) (grpc.ServerStreamingClient[pb.RangeStreamResponse], error) {
	return serverStream(c.g, ctx, in, opts, c.kv.RangeStream)
}

func (c *gatedKV) Put(ctx context.Context, in *pb.PutRequest, opts ...grpc.CallOption) (*pb.PutResponse, error) {
	if err := c.g.refuse(); err != nil {
		return nil, err
	}
	resp, err := c.kv.Put(ctx, in, opts...)
	if err != nil {
		return nil, c.g.failed(err)
	}
	return resp, nil
}

func (c *gatedKV) DeleteRange(ctx context.Context, in *pb.DeleteRangeRequest, opts ...grpc.CallOption) (*pb.DeleteRangeResponse, error) {
	if err := c.g.refuse(); err != nil {
		return nil, err
	}
	resp, err := c.kv.DeleteRange(ctx, in, opts...)
	if err != nil {
		return nil, c.g.failed(err)
	}
	return resp, nil
}

func (c *gatedKV) Txn(ctx context.Context, in *pb.TxnRequest, opts ...grpc.CallOption) (*pb.TxnResponse, error) {
	if err := c.g.refuse(); err != nil {
		return nil, err
	}
	resp, err := c.kv.Txn(ctx, in, opts...)
	if err != nil {
		return nil, c.g.failed(err)
	}
	return resp, nil
}

func (c *gatedKV) Compact(ctx context.Context, in *pb.CompactionRequest, opts ...grpc.CallOption) (*pb.CompactionResponse, error) {
	return call(c.g, ctx, in, opts, c.kv.Compact)
}

type gatedLease struct {
	g  *clientGate
	lc pb.LeaseClient
}

func (c *gatedLease) LeaseGrant(ctx context.Context, in *pb.LeaseGrantRequest, opts ...grpc.CallOption) (*pb.LeaseGrantResponse, error) {
	return call(c.g, ctx, in, opts, c.lc.LeaseGrant)
}

func (c *gatedLease) LeaseRevoke(ctx context.Context, in *pb.LeaseRevokeRequest, opts ...grpc.CallOption) (*pb.LeaseRevokeResponse, error) {
	return call(c.g, ctx, in, opts, c.lc.LeaseRevoke)
}

func (c *gatedLease) LeaseTimeToLive(ctx context.Context, in *pb.LeaseTimeToLiveRequest, opts ...grpc.CallOption) (*pb.LeaseTimeToLiveResponse, error) {
	return call(c.g, ctx, in, opts, c.lc.LeaseTimeToLive)
}

func (c *gatedLease) LeaseLeases(ctx context.Context, in *pb.LeaseLeasesRequest, opts ...grpc.CallOption) (*pb.LeaseLeasesResponse, error) {
	return call(c.g, ctx, in, opts, c.lc.LeaseLeases)
}

// LeaseKeepAlive is the renewal stream: the path a stopped member would
// otherwise keep forwarding to the leader. It is refused, and an open
// one's Send, once the node has stopped.
func (c *gatedLease) LeaseKeepAlive(ctx context.Context, opts ...grpc.CallOption) (grpc.BidiStreamingClient[pb.LeaseKeepAliveRequest, pb.LeaseKeepAliveResponse], error) {
	if err := c.g.refuse(); err != nil {
		return nil, err
	}
	// No stream context tied to the node here, unlike other streams: this
	// one is opened for every KeepAliveOnce. Its Send is gated, and the
	// lessor's long-lived streams end when the gate closes the client.
	st, err := c.lc.LeaseKeepAlive(ctx, opts...)
	if err != nil {
		return nil, c.g.failed(err)
	}
	return &gatedKeepAlive{BidiStreamingClient: st, g: c.g}, nil
}

type gatedKeepAlive struct {
	grpc.BidiStreamingClient[pb.LeaseKeepAliveRequest, pb.LeaseKeepAliveResponse]
	g *clientGate
}

func (s *gatedKeepAlive) Send(req *pb.LeaseKeepAliveRequest) error {
	if err := s.g.refuse(); err != nil {
		return err
	}
	return s.g.failed(s.BidiStreamingClient.Send(req))
}

func (s *gatedKeepAlive) Recv() (*pb.LeaseKeepAliveResponse, error) {
	m, err := s.BidiStreamingClient.Recv()
	if err != nil {
		return nil, s.g.failed(err)
	}
	return m, nil
}

type gatedCluster struct {
	g  *clientGate
	cc pb.ClusterClient
}

func (c *gatedCluster) MemberAdd(ctx context.Context, in *pb.MemberAddRequest, opts ...grpc.CallOption) (*pb.MemberAddResponse, error) {
	return call(c.g, ctx, in, opts, c.cc.MemberAdd)
}

func (c *gatedCluster) MemberRemove(ctx context.Context, in *pb.MemberRemoveRequest, opts ...grpc.CallOption) (*pb.MemberRemoveResponse, error) {
	return call(c.g, ctx, in, opts, c.cc.MemberRemove)
}

func (c *gatedCluster) MemberUpdate(ctx context.Context, in *pb.MemberUpdateRequest, opts ...grpc.CallOption) (*pb.MemberUpdateResponse, error) {
	return call(c.g, ctx, in, opts, c.cc.MemberUpdate)
}

func (c *gatedCluster) MemberList(ctx context.Context, in *pb.MemberListRequest, opts ...grpc.CallOption) (*pb.MemberListResponse, error) {
	return call(c.g, ctx, in, opts, c.cc.MemberList)
}

func (c *gatedCluster) MemberPromote(ctx context.Context, in *pb.MemberPromoteRequest, opts ...grpc.CallOption) (*pb.MemberPromoteResponse, error) {
	return call(c.g, ctx, in, opts, c.cc.MemberPromote)
}

type gatedMaintenance struct {
	g      *clientGate
	mc     pb.MaintenanceClient
	defrag func(context.Context, *pb.DefragmentRequest, ...grpc.CallOption) (*pb.DefragmentResponse, error) // inProcessDefragment
}

func (c *gatedMaintenance) Alarm(ctx context.Context, in *pb.AlarmRequest, opts ...grpc.CallOption) (*pb.AlarmResponse, error) {
	return call(c.g, ctx, in, opts, c.mc.Alarm)
}

func (c *gatedMaintenance) Status(ctx context.Context, in *pb.StatusRequest, opts ...grpc.CallOption) (*pb.StatusResponse, error) {
	return call(c.g, ctx, in, opts, c.mc.Status)
}

func (c *gatedMaintenance) Defragment(ctx context.Context, in *pb.DefragmentRequest, opts ...grpc.CallOption) (*pb.DefragmentResponse, error) {
	return call(c.g, ctx, in, opts, c.defrag)
}

func (c *gatedMaintenance) Hash(ctx context.Context, in *pb.HashRequest, opts ...grpc.CallOption) (*pb.HashResponse, error) {
	return call(c.g, ctx, in, opts, c.mc.Hash)
}

func (c *gatedMaintenance) HashKV(ctx context.Context, in *pb.HashKVRequest, opts ...grpc.CallOption) (*pb.HashKVResponse, error) {
	return call(c.g, ctx, in, opts, c.mc.HashKV)
}

func (c *gatedMaintenance) Snapshot(ctx context.Context, in *pb.SnapshotRequest, opts ...grpc.CallOption) (grpc.ServerStreamingClient[pb.SnapshotResponse], error) {
	return serverStream(c.g, ctx, in, opts, c.mc.Snapshot)
}

func (c *gatedMaintenance) MoveLeader(ctx context.Context, in *pb.MoveLeaderRequest, opts ...grpc.CallOption) (*pb.MoveLeaderResponse, error) {
	return call(c.g, ctx, in, opts, c.mc.MoveLeader)
}

func (c *gatedMaintenance) Downgrade(ctx context.Context, in *pb.DowngradeRequest, opts ...grpc.CallOption) (*pb.DowngradeResponse, error) {
	return call(c.g, ctx, in, opts, c.mc.Downgrade)
}

type gatedAuth struct {
	g  *clientGate
	ac pb.AuthClient
}

func (c *gatedAuth) AuthEnable(ctx context.Context, in *pb.AuthEnableRequest, opts ...grpc.CallOption) (*pb.AuthEnableResponse, error) {
	return call(c.g, ctx, in, opts, c.ac.AuthEnable)
}

func (c *gatedAuth) AuthDisable(ctx context.Context, in *pb.AuthDisableRequest, opts ...grpc.CallOption) (*pb.AuthDisableResponse, error) {
	return call(c.g, ctx, in, opts, c.ac.AuthDisable)
}

func (c *gatedAuth) AuthStatus(ctx context.Context, in *pb.AuthStatusRequest, opts ...grpc.CallOption) (*pb.AuthStatusResponse, error) {
	return call(c.g, ctx, in, opts, c.ac.AuthStatus)
}

func (c *gatedAuth) Authenticate(ctx context.Context, in *pb.AuthenticateRequest, opts ...grpc.CallOption) (*pb.AuthenticateResponse, error) {
	return call(c.g, ctx, in, opts, c.ac.Authenticate)
}

func (c *gatedAuth) UserAdd(ctx context.Context, in *pb.AuthUserAddRequest, opts ...grpc.CallOption) (*pb.AuthUserAddResponse, error) {
	return call(c.g, ctx, in, opts, c.ac.UserAdd)
}

func (c *gatedAuth) UserGet(ctx context.Context, in *pb.AuthUserGetRequest, opts ...grpc.CallOption) (*pb.AuthUserGetResponse, error) {
	return call(c.g, ctx, in, opts, c.ac.UserGet)
}

func (c *gatedAuth) UserList(ctx context.Context, in *pb.AuthUserListRequest, opts ...grpc.CallOption) (*pb.AuthUserListResponse, error) {
	return call(c.g, ctx, in, opts, c.ac.UserList)
}

func (c *gatedAuth) UserDelete(ctx context.Context, in *pb.AuthUserDeleteRequest, opts ...grpc.CallOption) (*pb.AuthUserDeleteResponse, error) {
	return call(c.g, ctx, in, opts, c.ac.UserDelete)
}

func (c *gatedAuth) UserChangePassword(ctx context.Context, in *pb.AuthUserChangePasswordRequest, opts ...grpc.CallOption) (*pb.AuthUserChangePasswordResponse, error) {
	return call(c.g, ctx, in, opts, c.ac.UserChangePassword)
}

func (c *gatedAuth) UserGrantRole(ctx context.Context, in *pb.AuthUserGrantRoleRequest, opts ...grpc.CallOption) (*pb.AuthUserGrantRoleResponse, error) {
	return call(c.g, ctx, in, opts, c.ac.UserGrantRole)
}

func (c *gatedAuth) UserRevokeRole(ctx context.Context, in *pb.AuthUserRevokeRoleRequest, opts ...grpc.CallOption) (*pb.AuthUserRevokeRoleResponse, error) {
	return call(c.g, ctx, in, opts, c.ac.UserRevokeRole)
}

func (c *gatedAuth) RoleAdd(ctx context.Context, in *pb.AuthRoleAddRequest, opts ...grpc.CallOption) (*pb.AuthRoleAddResponse, error) {
	return call(c.g, ctx, in, opts, c.ac.RoleAdd)
}

func (c *gatedAuth) RoleGet(ctx context.Context, in *pb.AuthRoleGetRequest, opts ...grpc.CallOption) (*pb.AuthRoleGetResponse, error) {
	return call(c.g, ctx, in, opts, c.ac.RoleGet)
}

func (c *gatedAuth) RoleList(ctx context.Context, in *pb.AuthRoleListRequest, opts ...grpc.CallOption) (*pb.AuthRoleListResponse, error) {
	return call(c.g, ctx, in, opts, c.ac.RoleList)
}

func (c *gatedAuth) RoleDelete(ctx context.Context, in *pb.AuthRoleDeleteRequest, opts ...grpc.CallOption) (*pb.AuthRoleDeleteResponse, error) {
	return call(c.g, ctx, in, opts, c.ac.RoleDelete)
}

func (c *gatedAuth) RoleGrantPermission(ctx context.Context, in *pb.AuthRoleGrantPermissionRequest, opts ...grpc.CallOption) (*pb.AuthRoleGrantPermissionResponse, error) {
	return call(c.g, ctx, in, opts, c.ac.RoleGrantPermission)
}

func (c *gatedAuth) RoleRevokePermission(ctx context.Context, in *pb.AuthRoleRevokePermissionRequest, opts ...grpc.CallOption) (*pb.AuthRoleRevokePermissionResponse, error) {
	return call(c.g, ctx, in, opts, c.ac.RoleRevokePermission)
}
