package discovery_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit/coordtest"
	"github.com/coordkit/coordkit/discovery"
	"github.com/coordkit/coordkit/lease"
)

func TestRegisterValidatesBeforeSending(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t)
	cli := n.Client()
	ctx := ctxT(t, wait)
	ok := discovery.Instance{Service: "payments", Addr: "10.0.0.1:80"}
	l, err := lease.Grant(ctx, cli, 5*time.Second)
	require.NoError(t, err)

	for _, tc := range []struct {
		name string
		inst discovery.Instance
		opts []discovery.Option
		want error
		msg  string
	}{
		{"empty service", discovery.Instance{Addr: "a:1"}, nil, discovery.ErrInvalidService, "empty"},
		{"slash in service", discovery.Instance{Service: "pay/ments", Addr: "a:1"}, nil, discovery.ErrInvalidService, "'/'"},
		{"space in service", discovery.Instance{Service: "pay ments", Addr: "a:1"}, nil, discovery.ErrInvalidService, "letters"},
		{"long service", discovery.Instance{Service: strings.Repeat("s", 256), Addr: "a:1"}, nil, discovery.ErrInvalidService, "at most"},
		{"no addr", discovery.Instance{Service: "payments"}, nil, discovery.ErrInvalidInstance, "Addr"},
		{"space in addr", discovery.Instance{Service: "payments", Addr: "a :1"}, nil, discovery.ErrInvalidInstance, "spaces"},
		{"slash in ID", discovery.Instance{Service: "payments", ID: "a/b", Addr: "a:1"}, nil, discovery.ErrInvalidInstance, "'/'"},
		{"negative weight", discovery.Instance{Service: "payments", Addr: "a:1", Weight: -1}, nil, discovery.ErrInvalidInstance, "Weight"},
		{"reserved metadata", discovery.Instance{Service: "payments", Addr: "a:1", Metadata: map[string]string{"zone": "a"}}, nil, discovery.ErrInvalidInstance, "Instance.Zone"},
		{"huge metadata", discovery.Instance{Service: "payments", Addr: "a:1", Metadata: map[string]string{"blob": strings.Repeat("x", discovery.MaxValueSize)}}, nil, discovery.ErrInvalidInstance, "bytes"},
		{"short TTL", ok, []discovery.Option{discovery.WithTTL(500 * time.Millisecond)}, discovery.ErrInvalidOption, "whole seconds"},
		{"zero TTL", ok, []discovery.Option{discovery.WithTTL(0)}, lease.ErrInvalidTTL, "WithTTL(0s)"},
		{"negative TTL", ok, []discovery.Option{discovery.WithTTL(-time.Second)}, lease.ErrInvalidTTL, "WithTTL(-1s)"},
		{"zero TTL and lease", ok, []discovery.Option{discovery.WithLease(l), discovery.WithTTL(0)}, discovery.ErrInvalidOption, "together"},
		{"nil lease", ok, []discovery.Option{discovery.WithLease(nil)}, discovery.ErrInvalidOption, "WithLease(nil)"},
		{"TTL and lease", ok, []discovery.Option{discovery.WithLease(l), discovery.WithTTL(time.Second)}, discovery.ErrInvalidOption, "together"},
		{"bad namespace", ok, []discovery.Option{discovery.WithNamespace("svc/")}, discovery.ErrInvalidOption, "trailing"},
		{"watch option", ok, []discovery.Option{discovery.WithStaleAfter(time.Second)}, discovery.ErrInvalidOption, "WithStaleAfter"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg, err := discovery.Register(ctx, cli, tc.inst, append(tc.opts, quiet)...)
			require.ErrorIs(t, err, tc.want)
			require.Nil(t, reg)
			require.Contains(t, err.Error(), tc.msg)
		})
	}
	_, err = discovery.Register(ctx, nil, ok)
	require.ErrorIs(t, err, discovery.ErrInvalidOption)

	_, err = discovery.Watch(ctx, cli, "a/b")
	require.ErrorIs(t, err, discovery.ErrInvalidService)
	_, err = discovery.Watch(ctx, cli, "payments", discovery.WithTTL(time.Second))
	require.ErrorIs(t, err, discovery.ErrInvalidOption)
	require.Contains(t, err.Error(), "WithTTL applies to Register")

	// Nothing reached etcd.
	resp, err := cli.Get(ctx, "", clientv3.WithPrefix(), clientv3.WithCountOnly())
	require.NoError(t, err)
	require.Zero(t, resp.Count)
}

// The stored value is etcd's naming/endpoints JSON, readable by anyone.
func TestValueIsEndpointsJSON(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t)
	cli := n.Client()
	reg := register(t, cli, discovery.Instance{
		Service: "payments", ID: "p1", Addr: "10.0.0.1:8080",
		Version: "v1.2.3", Zone: "eu-1a", Weight: 3,
		Metadata: map[string]string{"region": "eu"},
	})
	require.Equal(t, "coordkit/services/payments/p1", reg.Key())

	resp, err := cli.Get(ctxT(t, wait), reg.Key())
	require.NoError(t, err)
	require.Len(t, resp.Kvs, 1)
	require.JSONEq(t, `{"Op":0,"Addr":"10.0.0.1:8080","Metadata":{"region":"eu","version":"v1.2.3","zone":"eu-1a","weight":"3"}}`, string(resp.Kvs[0].Value))
	require.Equal(t, int64(reg.Lease()), resp.Kvs[0].Lease)

	var ep struct {
		Addr     string
		Metadata any
	}
	require.NoError(t, json.Unmarshal(resp.Kvs[0].Value, &ep))
	require.Equal(t, "10.0.0.1:8080", ep.Addr)
}

func TestDerivedIDIsStable(t *testing.T) {
	t.Parallel()
	n := coordtest.NewServer(t)
	cli := n.Client()
	a := register(t, cli, discovery.Instance{Service: "payments", Addr: "10.0.0.1:8080"})
	require.Equal(t, "10.0.0.1:8080", a.Instance().ID)
	require.Equal(t, "coordkit/services/payments/10.0.0.1:8080", a.Key())

	// An address that cannot be a key segment gets a hash of itself.
	b := register(t, cli, discovery.Instance{Service: "payments", Addr: "unix:///run/payments.sock"}, discovery.WithNamespace("/prod/svc"))
	id := b.Instance().ID
	require.True(t, strings.HasPrefix(id, "addr-"), id)
	require.Equal(t, "/prod/svc/payments/"+id, b.Key())
	require.NoError(t, b.Close(context.Background()))
	c := register(t, cli, discovery.Instance{Service: "payments", Addr: "unix:///run/payments.sock"}, discovery.WithNamespace("/prod/svc"))
	require.Equal(t, id, c.Instance().ID, "same address, same ID")
}
