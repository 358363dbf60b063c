package node

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/etcdserver"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/coordkit/coordkit/access"
	"github.com/coordkit/coordkit/internal/backoff"
	"github.com/coordkit/coordkit/internal/etcderr"
)

// This file makes the in-process client (Node.Client) work as a configured
// user once auth is enabled. etcd's in-process client calls the server's
// gRPC handlers as plain functions; the handlers read the auth token from
// the call's incoming gRPC metadata (key "token"), which nothing sets. The
// layer below authenticates against the member itself and hands every call
// a context whose incoming metadata carries the current token. The token is
// looked up when the server reads it, not when the call starts, so
// long-lived streams (watches) present the newest token on each new watch.
// A call refused because its token expired, was invalidated by an auth
// change, or was missing because auth was enabled after the client was made
// is re-authenticated and sent once more: etcd checks tokens before applying
// anything, so the refused call had no effect.

// nodeAuth authenticates a user against an in-process member and supplies
// its token. The zero token (no metadata) is used while auth is disabled.
type nodeAuth struct {
	auth           pb.AuthClient
	user, password string

	mu  sync.Mutex                      // serialises re-authentication
	tok atomic.Pointer[context.Context] // a context carrying only the token metadata; nil before the first authentication
}

// newNodeAuth returns the token source for user on the member whose
// authentication service is auth. It authenticates lazily, on the first
// call.
func newNodeAuth(auth pb.AuthClient, user, password string) *nodeAuth {
	return &nodeAuth{auth: auth, user: user, password: password}
}

// errNodeAuth wraps the reason the node client could not authenticate.
func (a *nodeAuth) errorf(err error) error {
	return fmt.Errorf("node: in-process client: authenticate as %q: %w", a.user, rpctypes.Error(err))
}

// current returns the token context in use, authenticating first if none
// was obtained yet.
func (a *nodeAuth) current(ctx context.Context) (*context.Context, error) {
	if t := a.tok.Load(); t != nil {
		return t, nil
	}
	if err := a.refresh(ctx, nil); err != nil {
		return nil, err
	}
	return a.tok.Load(), nil
}

// refresh authenticates again unless another caller already replaced
// stale. With auth disabled the token becomes empty.
func (a *nodeAuth) refresh(ctx context.Context, stale *context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if t := a.tok.Load(); t != stale && t != nil {
		return nil
	}
	resp, err := a.auth.Authenticate(ctx, &pb.AuthenticateRequest{Name: a.user, Password: a.password})
	var tc context.Context
	switch {
	case err == nil:
		tc = metadata.NewIncomingContext(context.Background(), metadata.Pairs(rpctypes.TokenFieldNameGRPC, resp.Token))
	case errors.Is(rpctypes.Error(err), rpctypes.ErrAuthNotEnabled):
		tc = context.Background()
	default:
		return a.errorf(err)
	}
	a.tok.Store(&tc)
	return nil
}

// staleToken reports whether err means the call's token must be renewed.
func staleToken(err error) bool {
	err = rpctypes.Error(err)
	return errors.Is(err, rpctypes.ErrInvalidAuthToken) || errors.Is(err, rpctypes.ErrAuthOldRevision) ||
		errors.Is(err, rpctypes.ErrUserEmpty)
}

// staleTokenReason is staleToken for a watch's cancel reason.
func staleTokenReason(reason string) bool {
	switch reason {
	case rpctypes.ErrGRPCInvalidAuthToken.Error(), rpctypes.ErrGRPCAuthOldRevision.Error(), rpctypes.ErrGRPCUserEmpty.Error():
		return true
	}
	return false
}

// incomingProbe recognises gRPC's incoming-metadata context key, which
// grpc does not export.
var incomingProbe = metadata.NewIncomingContext(context.Background(), metadata.MD{})

// tokenCtx is a context whose incoming gRPC metadata carries the current
// token of a, merged into any incoming metadata of the parent.
type tokenCtx struct {
	context.Context
	a *nodeAuth
}

func (c tokenCtx) Value(key any) any {
	if incomingProbe.Value(key) == nil {
		return c.Context.Value(key)
	}
	t := c.a.tok.Load()
	if t == nil {
		return c.Context.Value(key)
	}
	own, ok := metadata.FromIncomingContext(*t)
	if !ok {
		return c.Context.Value(key)
	}
	if parent, ok := metadata.FromIncomingContext(c.Context); ok {
		return metadata.NewIncomingContext(context.Background(), metadata.Join(parent, own)).Value(key)
	}
	return (*t).Value(key)
}

// String keeps the token out of anything that prints the context.
func (c tokenCtx) String() string { return "coordkit.nodeTokenContext" }

// with returns ctx carrying a's current token.
func (a *nodeAuth) with(ctx context.Context) context.Context { return tokenCtx{ctx, a} }

// authCall runs f with the token, re-authenticating and running it again
// if the token was refused: a few times, since with short-lived tokens or
// concurrent auth changes a fresh token can be stale again by the time it
// is checked. Each refused call had no effect.
func authCall[R any](ctx context.Context, a *nodeAuth, f func(context.Context) (R, error)) (R, error) {
	const attempts = 4
	var zero R
	for i := 0; ; i++ {
		t, err := a.current(ctx)
		if err != nil {
			return zero, err
		}
		r, err := f(a.with(ctx))
		if err == nil || !staleToken(err) || i == attempts-1 {
			return r, err
		}
		if rerr := a.refresh(ctx, t); rerr != nil {
			return zero, errors.Join(rerr, err)
		}
	}
}

// authStream opens a stream whose context carries the token; the token is
// read whenever the server checks it, so the stream follows refreshes.
func authStream[S any](ctx context.Context, a *nodeAuth, open func(context.Context) (S, error)) (S, error) {
	if _, err := a.current(ctx); err != nil {
		var zero S
		return zero, err
	}
	return open(a.with(ctx))
}

// inProcessClients are the gRPC service clients an in-process client is
// built from (client.go makes them: etcd's adapters, gated on the node's
// life).
type inProcessClients struct {
	KV          pb.KVClient
	Lease       pb.LeaseClient
	Watch       pb.WatchClient
	Maintenance pb.MaintenanceClient
	Cluster     pb.ClusterClient
	Auth        pb.AuthClient
}

// authenticated returns the same clients acting as a's user.
func (c inProcessClients) authenticated(a *nodeAuth) inProcessClients {
	return inProcessClients{
		KV:          authKV{c.KV, a},
		Lease:       authLease{c.Lease, a},
		Watch:       authWatch{c.Watch, a},
		Maintenance: authMaintenance{c.Maintenance, a},
		Cluster:     authCluster{c.Cluster, a},
		Auth:        authAuth{c.Auth, a},
	}
}

// assemble makes c use the service clients.
func (c inProcessClients) assemble(cli *clientv3.Client) {
	cli.KV = clientv3.NewKVFromKVClient(c.KV, cli)
	cli.Lease = clientv3.NewLeaseFromLeaseClient(c.Lease, cli, time.Second)
	cli.Watcher = clientv3.NewWatchFromWatchClient(c.Watch, cli)
	cli.Maintenance = clientv3.NewMaintenanceFromMaintenanceClient(c.Maintenance, cli)
	cli.Cluster = clientv3.NewClusterFromClusterClient(c.Cluster, cli)
	cli.Auth = clientv3.NewAuthFromAuthClient(c.Auth, cli)
}

type authKV struct {
	pb.KVClient
	a *nodeAuth
}

func (k authKV) Range(ctx context.Context, in *pb.RangeRequest, o ...grpc.CallOption) (*pb.RangeResponse, error) {
	return authCall(ctx, k.a, func(ctx context.Context) (*pb.RangeResponse, error) { return k.KVClient.Range(ctx, in, o...) })
}

func (k authKV) RangeStream(ctx context.Context, in *pb.RangeRequest, o ...grpc.CallOption) (grpc.ServerStreamingClient[pb.RangeStreamResponse], error) {
	return authStream(ctx, k.a, func(ctx context.Context) (grpc.ServerStreamingClient[pb.RangeStreamResponse], error) {
		return k.KVClient.RangeStream(ctx, in, o...)
	})
}

func (k authKV) Put(ctx context.Context, in *pb.PutRequest, o ...grpc.CallOption) (*pb.PutResponse, error) {
	return authCall(ctx, k.a, func(ctx context.Context) (*pb.PutResponse, error) { return k.KVClient.Put(ctx, in, o...) })
}

func (k authKV) DeleteRange(ctx context.Context, in *pb.DeleteRangeRequest, o ...grpc.CallOption) (*pb.DeleteRangeResponse, error) {
	return authCall(ctx, k.a, func(ctx context.Context) (*pb.DeleteRangeResponse, error) {
		return k.KVClient.DeleteRange(ctx, in, o...)
	})
}

func (k authKV) Txn(ctx context.Context, in *pb.TxnRequest, o ...grpc.CallOption) (*pb.TxnResponse, error) {
	return authCall(ctx, k.a, func(ctx context.Context) (*pb.TxnResponse, error) { return k.KVClient.Txn(ctx, in, o...) })
}

func (k authKV) Compact(ctx context.Context, in *pb.CompactionRequest, o ...grpc.CallOption) (*pb.CompactionResponse, error) {
	return authCall(ctx, k.a, func(ctx context.Context) (*pb.CompactionResponse, error) { return k.KVClient.Compact(ctx, in, o...) })
}

type authLease struct {
	pb.LeaseClient
	a *nodeAuth
}

func (l authLease) LeaseGrant(ctx context.Context, in *pb.LeaseGrantRequest, o ...grpc.CallOption) (*pb.LeaseGrantResponse, error) {
	return authCall(ctx, l.a, func(ctx context.Context) (*pb.LeaseGrantResponse, error) {
		return l.LeaseClient.LeaseGrant(ctx, in, o...)
	})
}

func (l authLease) LeaseRevoke(ctx context.Context, in *pb.LeaseRevokeRequest, o ...grpc.CallOption) (*pb.LeaseRevokeResponse, error) {
	return authCall(ctx, l.a, func(ctx context.Context) (*pb.LeaseRevokeResponse, error) {
		return l.LeaseClient.LeaseRevoke(ctx, in, o...)
	})
}

func (l authLease) LeaseKeepAlive(ctx context.Context, o ...grpc.CallOption) (grpc.BidiStreamingClient[pb.LeaseKeepAliveRequest, pb.LeaseKeepAliveResponse], error) {
	return authStream(ctx, l.a, func(ctx context.Context) (grpc.BidiStreamingClient[pb.LeaseKeepAliveRequest, pb.LeaseKeepAliveResponse], error) {
		return l.LeaseClient.LeaseKeepAlive(ctx, o...)
	})
}

func (l authLease) LeaseTimeToLive(ctx context.Context, in *pb.LeaseTimeToLiveRequest, o ...grpc.CallOption) (*pb.LeaseTimeToLiveResponse, error) {
	return authCall(ctx, l.a, func(ctx context.Context) (*pb.LeaseTimeToLiveResponse, error) {
		return l.LeaseClient.LeaseTimeToLive(ctx, in, o...)
	})
}

func (l authLease) LeaseLeases(ctx context.Context, in *pb.LeaseLeasesRequest, o ...grpc.CallOption) (*pb.LeaseLeasesResponse, error) {
	return authCall(ctx, l.a, func(ctx context.Context) (*pb.LeaseLeasesResponse, error) {
		return l.LeaseClient.LeaseLeases(ctx, in, o...)
	})
}

// authWatch opens watch streams carrying the token. A watch created while
// the token was stale is refused by the server with a cancel reason; the
// stream re-authenticates and sends the create request again, so the
// caller never sees the refusal.
type authWatch struct {
	pb.WatchClient
	a *nodeAuth
}

func (w authWatch) Watch(ctx context.Context, o ...grpc.CallOption) (grpc.BidiStreamingClient[pb.WatchRequest, pb.WatchResponse], error) {
	s, err := authStream(ctx, w.a, func(ctx context.Context) (grpc.BidiStreamingClient[pb.WatchRequest, pb.WatchResponse], error) {
		return w.WatchClient.Watch(ctx, o...)
	})
	if err != nil {
		return nil, err
	}
	return &authWatchStream{BidiStreamingClient: s, a: w.a, ctx: ctx}, nil
}

type authWatchStream struct {
	grpc.BidiStreamingClient[pb.WatchRequest, pb.WatchResponse]
	a   *nodeAuth
	ctx context.Context

	mu      sync.Mutex
	pending []*pb.WatchRequest // create requests sent and not yet answered, in order
}

func (s *authWatchStream) Send(req *pb.WatchRequest) error {
	if req.GetCreateRequest() != nil {
		s.mu.Lock()
		s.pending = append(s.pending, req)
		s.mu.Unlock()
	}
	return s.BidiStreamingClient.Send(req)
}

func (s *authWatchStream) Recv() (*pb.WatchResponse, error) {
	for retried := 0; ; {
		resp, err := s.BidiStreamingClient.Recv()
		if err != nil || !resp.Created {
			return resp, err
		}
		s.mu.Lock()
		var req *pb.WatchRequest
		if len(s.pending) > 0 {
			req, s.pending = s.pending[0], s.pending[1:]
		}
		s.mu.Unlock()
		if req == nil || !resp.Canceled || !staleTokenReason(resp.CancelReason) || retried > 0 {
			return resp, nil
		}
		retried++
		t := s.a.tok.Load()
		if rerr := s.a.refresh(s.ctx, t); rerr != nil {
			resp.CancelReason += " (" + rerr.Error() + ")"
			return resp, nil
		}
		if err := s.Send(req); err != nil {
			return nil, err
		}
	}
}

type authMaintenance struct {
	pb.MaintenanceClient
	a *nodeAuth
}

func (m authMaintenance) Alarm(ctx context.Context, in *pb.AlarmRequest, o ...grpc.CallOption) (*pb.AlarmResponse, error) {
	return authCall(ctx, m.a, func(ctx context.Context) (*pb.AlarmResponse, error) { return m.MaintenanceClient.Alarm(ctx, in, o...) })
}

func (m authMaintenance) Status(ctx context.Context, in *pb.StatusRequest, o ...grpc.CallOption) (*pb.StatusResponse, error) {
	return authCall(ctx, m.a, func(ctx context.Context) (*pb.StatusResponse, error) {
		return m.MaintenanceClient.Status(ctx, in, o...)
	})
}

func (m authMaintenance) Defragment(ctx context.Context, in *pb.DefragmentRequest, o ...grpc.CallOption) (*pb.DefragmentResponse, error) {
	return authCall(ctx, m.a, func(ctx context.Context) (*pb.DefragmentResponse, error) {
		return m.MaintenanceClient.Defragment(ctx, in, o...)
	})
}

func (m authMaintenance) Hash(ctx context.Context, in *pb.HashRequest, o ...grpc.CallOption) (*pb.HashResponse, error) {
	return authCall(ctx, m.a, func(ctx context.Context) (*pb.HashResponse, error) { return m.MaintenanceClient.Hash(ctx, in, o...) })
}

func (m authMaintenance) HashKV(ctx context.Context, in *pb.HashKVRequest, o ...grpc.CallOption) (*pb.HashKVResponse, error) {
	return authCall(ctx, m.a, func(ctx context.Context) (*pb.HashKVResponse, error) {
		return m.MaintenanceClient.HashKV(ctx, in, o...)
	})
}

func (m authMaintenance) Snapshot(ctx context.Context, in *pb.SnapshotRequest, o ...grpc.CallOption) (grpc.ServerStreamingClient[pb.SnapshotResponse], error) {
	return authStream(ctx, m.a, func(ctx context.Context) (grpc.ServerStreamingClient[pb.SnapshotResponse], error) {
		return m.MaintenanceClient.Snapshot(ctx, in, o...)
	})
}

func (m authMaintenance) MoveLeader(ctx context.Context, in *pb.MoveLeaderRequest, o ...grpc.CallOption) (*pb.MoveLeaderResponse, error) {
	return authCall(ctx, m.a, func(ctx context.Context) (*pb.MoveLeaderResponse, error) {
		return m.MaintenanceClient.MoveLeader(ctx, in, o...)
	})
}

func (m authMaintenance) Downgrade(ctx context.Context, in *pb.DowngradeRequest, o ...grpc.CallOption) (*pb.DowngradeResponse, error) {
	return authCall(ctx, m.a, func(ctx context.Context) (*pb.DowngradeResponse, error) {
		return m.MaintenanceClient.Downgrade(ctx, in, o...)
	})
}

type authCluster struct {
	pb.ClusterClient
	a *nodeAuth
}

func (c authCluster) MemberAdd(ctx context.Context, in *pb.MemberAddRequest, o ...grpc.CallOption) (*pb.MemberAddResponse, error) {
	return authCall(ctx, c.a, func(ctx context.Context) (*pb.MemberAddResponse, error) {
		return c.ClusterClient.MemberAdd(ctx, in, o...)
	})
}

func (c authCluster) MemberRemove(ctx context.Context, in *pb.MemberRemoveRequest, o ...grpc.CallOption) (*pb.MemberRemoveResponse, error) {
	return authCall(ctx, c.a, func(ctx context.Context) (*pb.MemberRemoveResponse, error) {
		return c.ClusterClient.MemberRemove(ctx, in, o...)
	})
}

func (c authCluster) MemberUpdate(ctx context.Context, in *pb.MemberUpdateRequest, o ...grpc.CallOption) (*pb.MemberUpdateResponse, error) {
	return authCall(ctx, c.a, func(ctx context.Context) (*pb.MemberUpdateResponse, error) {
		return c.ClusterClient.MemberUpdate(ctx, in, o...)
	})
}

func (c authCluster) MemberList(ctx context.Context, in *pb.MemberListRequest, o ...grpc.CallOption) (*pb.MemberListResponse, error) {
	return authCall(ctx, c.a, func(ctx context.Context) (*pb.MemberListResponse, error) {
		return c.ClusterClient.MemberList(ctx, in, o...)
	})
}

func (c authCluster) MemberPromote(ctx context.Context, in *pb.MemberPromoteRequest, o ...grpc.CallOption) (*pb.MemberPromoteResponse, error) {
	return authCall(ctx, c.a, func(ctx context.Context) (*pb.MemberPromoteResponse, error) {
		return c.ClusterClient.MemberPromote(ctx, in, o...)
	})
}

// authAuth carries the token on the auth service's calls (user and role
// management needs root). Authenticate itself needs no token.
type authAuth struct {
	pb.AuthClient
	a *nodeAuth
}

func (c authAuth) AuthEnable(ctx context.Context, in *pb.AuthEnableRequest, o ...grpc.CallOption) (*pb.AuthEnableResponse, error) {
	return authCall(ctx, c.a, func(ctx context.Context) (*pb.AuthEnableResponse, error) {
		return c.AuthClient.AuthEnable(ctx, in, o...)
	})
}

func (c authAuth) AuthDisable(ctx context.Context, in *pb.AuthDisableRequest, o ...grpc.CallOption) (*pb.AuthDisableResponse, error) {
	return authCall(ctx, c.a, func(ctx context.Context) (*pb.AuthDisableResponse, error) {
		return c.AuthClient.AuthDisable(ctx, in, o...)
	})
}

func (c authAuth) AuthStatus(ctx context.Context, in *pb.AuthStatusRequest, o ...grpc.CallOption) (*pb.AuthStatusResponse, error) {
	return authCall(ctx, c.a, func(ctx context.Context) (*pb.AuthStatusResponse, error) {
		return c.AuthClient.AuthStatus(ctx, in, o...)
	})
}

func (c authAuth) UserAdd(ctx context.Context, in *pb.AuthUserAddRequest, o ...grpc.CallOption) (*pb.AuthUserAddResponse, error) {
	return authCall(ctx, c.a, func(ctx context.Context) (*pb.AuthUserAddResponse, error) { return c.AuthClient.UserAdd(ctx, in, o...) })
}

func (c authAuth) UserGet(ctx context.Context, in *pb.AuthUserGetRequest, o ...grpc.CallOption) (*pb.AuthUserGetResponse, error) {
	return authCall(ctx, c.a, func(ctx context.Context) (*pb.AuthUserGetResponse, error) { return c.AuthClient.UserGet(ctx, in, o...) })
}

func (c authAuth) UserList(ctx context.Context, in *pb.AuthUserListRequest, o ...grpc.CallOption) (*pb.AuthUserListResponse, error) {
	return authCall(ctx, c.a, func(ctx context.Context) (*pb.AuthUserListResponse, error) {
		return c.AuthClient.UserList(ctx, in, o...)
	})
}

func (c authAuth) UserDelete(ctx context.Context, in *pb.AuthUserDeleteRequest, o ...grpc.CallOption) (*pb.AuthUserDeleteResponse, error) {
	return authCall(ctx, c.a, func(ctx context.Context) (*pb.AuthUserDeleteResponse, error) {
		return c.AuthClient.UserDelete(ctx, in, o...)
	})
}

func (c authAuth) UserChangePassword(ctx context.Context, in *pb.AuthUserChangePasswordRequest, o ...grpc.CallOption) (*pb.AuthUserChangePasswordResponse, error) {
	return authCall(ctx, c.a, func(ctx context.Context) (*pb.AuthUserChangePasswordResponse, error) {
		return c.AuthClient.UserChangePassword(ctx, in, o...)
	})
}

func (c authAuth) UserGrantRole(ctx context.Context, in *pb.AuthUserGrantRoleRequest, o ...grpc.CallOption) (*pb.AuthUserGrantRoleResponse, error) {
	return authCall(ctx, c.a, func(ctx context.Context) (*pb.AuthUserGrantRoleResponse, error) {
		return c.AuthClient.UserGrantRole(ctx, in, o...)
	})
}

func (c authAuth) UserRevokeRole(ctx context.Context, in *pb.AuthUserRevokeRoleRequest, o ...grpc.CallOption) (*pb.AuthUserRevokeRoleResponse, error) {
	return authCall(ctx, c.a, func(ctx context.Context) (*pb.AuthUserRevokeRoleResponse, error) {
		return c.AuthClient.UserRevokeRole(ctx, in, o...)
	})
}

func (c authAuth) RoleAdd(ctx context.Context, in *pb.AuthRoleAddRequest, o ...grpc.CallOption) (*pb.AuthRoleAddResponse, error) {
	return authCall(ctx, c.a, func(ctx context.Context) (*pb.AuthRoleAddResponse, error) { return c.AuthClient.RoleAdd(ctx, in, o...) })
}

func (c authAuth) RoleGet(ctx context.Context, in *pb.AuthRoleGetRequest, o ...grpc.CallOption) (*pb.AuthRoleGetResponse, error) {
	return authCall(ctx, c.a, func(ctx context.Context) (*pb.AuthRoleGetResponse, error) { return c.AuthClient.RoleGet(ctx, in, o...) })
}

func (c authAuth) RoleList(ctx context.Context, in *pb.AuthRoleListRequest, o ...grpc.CallOption) (*pb.AuthRoleListResponse, error) {
	return authCall(ctx, c.a, func(ctx context.Context) (*pb.AuthRoleListResponse, error) {
		return c.AuthClient.RoleList(ctx, in, o...)
	})
}

func (c authAuth) RoleDelete(ctx context.Context, in *pb.AuthRoleDeleteRequest, o ...grpc.CallOption) (*pb.AuthRoleDeleteResponse, error) {
	return authCall(ctx, c.a, func(ctx context.Context) (*pb.AuthRoleDeleteResponse, error) {
		return c.AuthClient.RoleDelete(ctx, in, o...)
	})
}

func (c authAuth) RoleGrantPermission(ctx context.Context, in *pb.AuthRoleGrantPermissionRequest, o ...grpc.CallOption) (*pb.AuthRoleGrantPermissionResponse, error) {
	return authCall(ctx, c.a, func(ctx context.Context) (*pb.AuthRoleGrantPermissionResponse, error) {
		return c.AuthClient.RoleGrantPermission(ctx, in, o...)
	})
}

func (c authAuth) RoleRevokePermission(ctx context.Context, in *pb.AuthRoleRevokePermissionRequest, o ...grpc.CallOption) (*pb.AuthRoleRevokePermissionResponse, error) {
	return authCall(ctx, c.a, func(ctx context.Context) (*pb.AuthRoleRevokePermissionResponse, error) {
		return c.AuthClient.RoleRevokePermission(ctx, in, o...)
	})
}

// applyAuth applies spec through an in-process client acting as root. A
// member that has just started can meet a leader change or a timeout
// (several members apply at once); Apply re-reads the cluster's state each
// time, so running it again after such an error is safe, even after a write
// of unknown outcome. It tries until timeout.
func applyAuth(ctx context.Context, s *etcdserver.EtcdServer, spec *access.Spec, timeout time.Duration) error {
	cli, gate := newNodeClient(s, "root", spec.RootPassword)
	defer gate.stop()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	bo := backoff.New(backoff.Policy{Initial: 20 * time.Millisecond, Max: time.Second})
	for {
		_, err := access.Apply(ctx, cli, *spec)
		if err == nil {
			return nil
		}
		if !etcderr.Transient(err) || bo.Wait(ctx) != nil {
			return fmt.Errorf("%w: %w", ErrAuthSetup, err)
		}
	}
}
