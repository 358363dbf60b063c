package node

import (
	"context"
	"errors"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"go.etcd.io/etcd/server/v3/auth"
	"go.etcd.io/etcd/server/v3/etcdserver"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// inProcessDefragment defragments s's backend for the in-process client, as
// etcd's maintenance service does: only for a user with admin permission
// once auth is on. etcd's in-process maintenance service cannot be used for
// it: its Defragment tells a gRPC health notifier that only etcd's own gRPC
// server has, and panics on the nil one an in-process service gets.
func inProcessDefragment(s *etcdserver.EtcdServer) func(context.Context, *pb.DefragmentRequest, ...grpc.CallOption) (*pb.DefragmentResponse, error) {
	return func(ctx context.Context, _ *pb.DefragmentRequest, _ ...grpc.CallOption) (*pb.DefragmentResponse, error) {
		info, err := s.AuthInfoFromCtx(ctx)
		if err != nil {
			return nil, authGRPCError(err)
		}
		if err := s.AuthStore().IsAdminPermitted(info); err != nil {
			return nil, authGRPCError(err)
		}
		if err := s.Defragment(); err != nil {
			return nil, status.Error(codes.Unknown, err.Error())
		}
		return &pb.DefragmentResponse{Header: &pb.ResponseHeader{
			ClusterId: uint64(s.Cluster().ID()),
			MemberId:  uint64(s.MemberID()),
			Revision:  s.KV().Rev(),
			RaftTerm:  s.Term(),
		}}, nil
	}
}

// authGRPCError is the gRPC error etcd's services answer for an auth
// failure, so that the client reports it as it does over gRPC
// (rpctypes.ErrPermissionDenied, a stale token renewed...).
func authGRPCError(err error) error {
	for _, m := range []struct{ auth, grpc error }{
		{auth.ErrPermissionDenied, rpctypes.ErrGRPCPermissionDenied},
		{auth.ErrUserEmpty, rpctypes.ErrGRPCUserEmpty},
		{auth.ErrInvalidAuthToken, rpctypes.ErrGRPCInvalidAuthToken},
		{auth.ErrAuthOldRevision, rpctypes.ErrGRPCAuthOldRevision},
		{auth.ErrUserNotFound, rpctypes.ErrGRPCUserNotFound},
	} {
		if errors.Is(err, m.auth) {
			return m.grpc
		}
	}
	return status.Error(codes.Unknown, err.Error())
}
