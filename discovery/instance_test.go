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
		opts []discovery.RegisterOption
		want error
		msg  string
	}{
		{"empty service", discovery.Instance{Addr: "a:1"}, nil, discovery.ErrInvalidName, "empty"},
		{"slash in service", discovery.Instance{Service: "pay/ments", Addr: "a:1"}, nil, discovery.ErrInvalidName, "'/'"},
		{"space in service", discovery.Instance{Service: "pay ments", Addr: "a:1"}, nil, discovery.ErrInvalidName, "letters"},
		{"long service", discovery.Instance{Service: strings.Repeat("s", 256), Addr: "a:1"}, nil, discovery.ErrInvalidName, "at most"},
		{"no addr", discovery.Instance{Service: "payments"}, nil, discovery.ErrInvalidInstance, "Addr"},
		{"space in addr", discovery.Instance{Service: "payments", Addr: "a :1"}, nil, discovery.ErrInvalidInstance, "spaces"},
		{"slash in ID", discovery.Instance{Service: "payments", ID: "a/b", Addr: "a:1"}, nil, discovery.ErrInvalidInstance, "'/'"},
		{"negative weight", discovery.Instance{Service: "payments", Addr: "a:1", Weight: -1}, nil, discovery.ErrInvalidInstance, "Weight"},
		{"reserved metadata", discovery.Instance{Service: "payments", Addr: "a:1", Metadata: map[string]string{"zone": "a"}}, nil, discovery.ErrInvalidInstance, "Instance.Zone"},
		{"huge metadata", discovery.Instance{Service: "payments", Addr: "a:1", Metadata: map[string]string{"blob": strings.Repeat("x", discovery.MaxValueSize)}}, nil, discovery.ErrInvalidInstance, "bytes"},
		{"short TTL", ok, []discovery.RegisterOption{discovery.WithTTL(500 * time.Millisecond)}, discovery.ErrInvalidTTL, "whole seconds"},
		{"zero TTL", ok, []discovery.RegisterOption{discovery.WithTTL(0)}, discovery.ErrInvalidTTL, "WithTTL(0s)"},
		{"negative TTL", ok, []discovery.RegisterOption{discovery.WithTTL(-time.Second)}, discovery.ErrInvalidArgument, "WithTTL(-1s)"},
		{"zero TTL and lease", ok, []discovery.RegisterOption{discovery.WithLease(l), discovery.WithTTL(0)}, discovery.ErrInvalidTTL, "WithTTL(0s)"},
		{"nil lease", ok, []discovery.RegisterOption{discovery.WithLease(nil)}, discovery.ErrInvalidArgument, "WithLease(nil)"},
		{"TTL and lease", ok, []discovery.RegisterOption{discovery.WithLease(l), discovery.WithTTL(time.Second)}, discovery.ErrInvalidArgument, "together"},
		{"bad namespace", ok, []discovery.RegisterOption{discovery.WithNamespace("svc/")}, discovery.ErrInvalidArgument, "trailing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg, err := discovery.Register(ctx, cli, tc.inst, append(tc.opts, quiet)...)
			require.ErrorIs(t, err, tc.want)
			require.Nil(t, reg)
			require.Contains(t, err.Error(), tc.msg)
		})
	}
	_, err = discovery.Register(ctx, nil, ok)
	require.ErrorIs(t, err, discovery.ErrInvalidArgument)
	require.Equal(t, 1, strings.Count(err.Error(), "discovery:"), "the package prefix appears once: %v", err)

	_, err = discovery.Watch(ctx, cli, "a/b")
	require.ErrorIs(t, err, discovery.ErrInvalidName)
	_, err = discovery.Watch(ctx, cli, "payments", discovery.WithStaleAfter(time.Millisecond))
	require.ErrorIs(t, err, discovery.ErrInvalidArgument)
	require.Contains(t, err.Error(), "WithStaleAfter")

	// An option given to a call it does not apply to does not compile:
	// WithTTL and WithLease are no WatchOptions, WithStaleAfter is no
	// RegisterOption; the options of every call are both.
	_, isWatch := discovery.WithTTL(time.Second).(discovery.WatchOption)
	require.False(t, isWatch)
	_, isWatch = discovery.WithLease(l).(discovery.WatchOption)
	require.False(t, isWatch)
	_, isRegister := discovery.WithStaleAfter(time.Second).(discovery.RegisterOption)
	require.False(t, isRegister)
	var _ discovery.RegisterOption = discovery.WithNamespace("ns")
	var _ discovery.WatchOption = discovery.WithNamespace("ns")

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
