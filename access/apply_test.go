package access_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"

	"github.com/coordkit/coordkit"
	"github.com/coordkit/coordkit/access"
	"github.com/coordkit/coordkit/coordtest"
	"github.com/coordkit/coordkit/node"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func spec() access.Spec {
	return access.Spec{
		RootPassword: "r00t-secret",
		Roles: []access.Role{
			{Name: "billing", Permissions: slices.Concat(access.KV("billing", access.ReadWrite), access.Lock("locks/billing"))},
			{Name: "reader", Permissions: []access.Permission{access.OnPrefix("billing/", access.Read), access.OnKey("motd", access.Read)}},
		},
		Users: []access.User{
			{Name: "billing-svc", Password: "b1ll-secret", Roles: []string{"billing"}},
			{Name: "auditor", Password: "aud1t-secret", Roles: []string{"reader"}},
			{Name: "cert-only", Roles: []string{"reader"}},
		},
	}
}

// connect returns a gRPC client of n as user/password.
func connect(t testing.TB, n *coordtest.Node, user, password string) *clientv3.Client {
	t.Helper()
	cli, err := coordkit.Connect(ctxT(t), coordkit.ClientConfig{Endpoints: n.Endpoints(), Username: user, Password: password})
	require.NoError(t, err)
	t.Cleanup(func() { cli.Close() })
	return cli
}

func authRevision(t testing.TB, cli *clientv3.Client) uint64 {
	t.Helper()
	st, err := cli.AuthStatus(ctxT(t))
	require.NoError(t, err)
	return st.AuthRevision
}

func TestApplyCreatesEnablesAndIsIdempotent(t *testing.T) {
	t.Parallel()
	n := coordtest.NewNode(t)
	ctx := ctxT(t)
	s := spec()

	require.ErrorIs(t, access.Verify(ctx, n.Client(), s), access.ErrAuthDisabled)

	rep, err := access.Apply(ctx, n.Client(), s) // auth is off: any client will do
	require.NoError(t, err)
	require.Contains(t, rep.Changes, `role "billing": created`)
	require.Contains(t, rep.Changes, `user "cert-only": created without password (certificate CN authentication)`)
	require.Equal(t, "auth: enabled", rep.Changes[len(rep.Changes)-1])
	for _, c := range rep.Changes {
		require.NotContains(t, c, "secret", "a report never shows a password")
	}

	root := connect(t, n, "root", s.RootPassword)
	require.NoError(t, access.Verify(ctx, root, s))
	rev := authRevision(t, root)
	rep, err = access.Apply(ctx, root, s)
	require.NoError(t, err)
	require.Empty(t, rep.Changes, "applying the same spec again changes nothing")
	require.Equal(t, rev, authRevision(t, root), "not even etcd's auth revision")

	// The users have exactly their roles' permissions.
	svc := connect(t, n, "billing-svc", "b1ll-secret")
	_, err = svc.Put(ctx, "billing/invoice/1", "10")
	require.NoError(t, err)
	_, err = svc.Put(ctx, "locks/billing/x", "held")
	require.NoError(t, err)
	_, err = svc.Put(ctx, "payroll/1", "x")
	require.ErrorIs(t, err, rpctypes.ErrPermissionDenied)
	aud := connect(t, n, "auditor", "aud1t-secret")
	got, err := aud.Get(ctx, "billing/invoice/1")
	require.NoError(t, err)
	require.Len(t, got.Kvs, 1)
	_, err = aud.Put(ctx, "billing/invoice/2", "20")
	require.ErrorIs(t, err, rpctypes.ErrPermissionDenied)

	// A change made outside is drift, and Apply puts it back.
	_, err = root.RoleRevokePermission(ctx, "reader", "motd", "")
	require.NoError(t, err)
	_, err = root.UserChangePassword(ctx, "auditor", "changed-by-hand")
	require.NoError(t, err)
	err = access.Verify(ctx, root, s)
	require.ErrorIs(t, err, access.ErrDrift)
	require.ErrorContains(t, err, `role "reader": granted read "motd"`)
	require.ErrorContains(t, err, `user "auditor": password set`)
	require.NotContains(t, err.Error(), "aud1t-secret")
	rep, err = access.Apply(ctx, root, s)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{`role "reader": granted read "motd"`, `user "auditor": password set`}, rep.Changes)
	require.NoError(t, access.Verify(ctx, root, s))
}

func TestApplyLeavesUnlistedUsersAndRolesUnlessAsked(t *testing.T) {
	t.Parallel()
	n := coordtest.NewNode(t)
	ctx := ctxT(t)
	s := spec()
	cli := n.Client()
	_, err := cli.RoleAdd(ctx, "legacy")
	require.NoError(t, err)
	_, err = cli.UserAdd(ctx, "legacy-user", "pw")
	require.NoError(t, err)
	_, err = cli.UserGrantRole(ctx, "legacy-user", "legacy")
	require.NoError(t, err)

	_, err = access.Apply(ctx, cli, s)
	require.NoError(t, err)
	root := connect(t, n, "root", s.RootPassword)
	users, err := root.UserList(ctx)
	require.NoError(t, err)
	require.Contains(t, users.Users, "legacy-user", "a user the spec does not list is kept")
	roles, err := root.RoleList(ctx)
	require.NoError(t, err)
	require.Contains(t, roles.Roles, "legacy")

	rep, err := access.Apply(ctx, root, s, access.RemoveUnlisted())
	require.NoError(t, err)
	require.ElementsMatch(t, []string{`user "legacy-user": deleted (not in the spec)`, `role "legacy": deleted (not in the spec)`}, rep.Changes)
	users, err = root.UserList(ctx)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"root", "billing-svc", "auditor", "cert-only"}, users.Users)
}

// failingAuth makes one auth call fail, as a lost connection would.
type failingAuth struct {
	clientv3.Auth
	failUser string
}

var errInjected = errors.New("injected: connection lost")

func (f failingAuth) UserGrantRole(ctx context.Context, user, role string) (*clientv3.AuthUserGrantRoleResponse, error) {
	if user == f.failUser {
		return nil, errInjected
	}
	return f.Auth.UserGrantRole(ctx, user, role)
}

func TestApplyReportsWhatWasAppliedBeforeAFailure(t *testing.T) {
	t.Parallel()
	n := coordtest.NewNode(t)
	ctx := ctxT(t)
	s := spec()
	cli := n.NewClient(t)
	cli.Auth = failingAuth{Auth: cli.Auth, failUser: "auditor"}

	rep, err := access.Apply(ctx, cli, s)
	require.ErrorIs(t, err, access.ErrApply)
	require.ErrorIs(t, err, errInjected)
	require.ErrorContains(t, err, `user "auditor": granted role "reader" failed`)
	require.Contains(t, rep.Changes, `user "billing-svc": granted role "billing"`, "steps before the failure are reported")
	require.NotContains(t, rep.Changes, "auth: enabled")
	require.ErrorContains(t, err, fmt.Sprintf("%d of", len(rep.Changes)))
	st, err := n.Client().AuthStatus(ctx)
	require.NoError(t, err)
	require.False(t, st.Enabled, "auth is enabled only after every other step")

	// Applying again finishes the job. Auth is still off, so the existing
	// users' passwords cannot be checked and are set again.
	rep, err = access.Apply(ctx, n.Client(), s)
	require.NoError(t, err)
	require.Equal(t, []string{`user "root": password set`, `user "billing-svc": password set`, `user "auditor": password set`,
		`user "auditor": granted role "reader"`, `user "cert-only": created without password (certificate CN authentication)`,
		`user "cert-only": granted role "reader"`, "auth: enabled"}, rep.Changes)
	root := connect(t, n, "root", s.RootPassword)
	require.NoError(t, access.Verify(ctx, root, s))
}

func TestSpecValidation(t *testing.T) {
	t.Parallel()
	cases := map[string]access.Spec{
		"empty role name":    {Roles: []access.Role{{}}},
		"root role defined":  {Roles: []access.Role{{Name: "root"}}},
		"duplicate role":     {Roles: []access.Role{{Name: "a"}, {Name: "a"}}},
		"undefined role":     {Users: []access.User{{Name: "u", Roles: []string{"nope"}}}},
		"root in users":      {Users: []access.User{{Name: "root"}}},
		"empty key":          {Roles: []access.Role{{Name: "a", Permissions: []access.Permission{{Type: access.Read}}}}},
		"bad type":           {Roles: []access.Role{{Name: "a", Permissions: []access.Permission{{Key: "k"}}}}},
		"range end before":   {Roles: []access.Role{{Name: "a", Permissions: []access.Permission{access.OnRange("b", "a", access.Read)}}}},
		"duplicate username": {Users: []access.User{{Name: "u", Password: "topsecret"}, {Name: "u", Password: "topsecret"}}},
	}
	for name, s := range cases {
		err := s.Validate()
		require.ErrorIs(t, err, access.ErrInvalidSpec, name)
		require.NotContains(t, err.Error(), "topsecret")
		_, err = access.Apply(context.Background(), nil, s)
		require.ErrorIs(t, err, access.ErrInvalidSpec, name)
	}
	require.NotContains(t, fmt.Sprintf("%#v %v %+v", spec(), spec(), spec().Users[0]), "secret", "formatting a spec shows no password")
}

func TestNodeConfigAuthAppliesAtStartAndNodeClientActsAsItsUser(t *testing.T) {
	t.Parallel()
	s := spec()
	c := coordtest.NewCluster(t, 3, coordtest.WithNodeConfig(func(cfg *node.Config) {
		cfg.Auth = &s
		cfg.ClientUser = "billing-svc"
	}))
	ctx := ctxT(t)
	for _, m := range c.Members() {
		cli := m.Node().Client()
		_, err := cli.Put(ctx, "billing/from/"+m.Name(), "1")
		require.NoError(t, err, "the node client acts as billing-svc")
		_, err = cli.Put(ctx, "payroll/"+m.Name(), "1")
		require.ErrorIs(t, err, rpctypes.ErrPermissionDenied)
	}
	// Restarting a member re-applies the spec: nothing changes.
	root, err := coordkit.Connect(ctx, coordkit.ClientConfig{Endpoints: c.Endpoints(), Username: "root", Password: s.RootPassword})
	require.NoError(t, err)
	defer root.Close()
	rev := authRevision(t, root)
	c.Member(1).Kill()
	c.Member(1).Restart()
	require.Equal(t, rev, authRevision(t, root))
	_, err = c.Member(1).Node().Client().Put(ctx, "billing/after-restart", "1")
	require.NoError(t, err)
}

func TestNodeConfigAuthNeedsARootPassword(t *testing.T) {
	t.Parallel()
	_, err := node.Start(context.Background(), node.Config{
		ClientURLs: []string{"http://127.0.0.1:0"}, PeerURLs: []string{"http://127.0.0.1:0"},
		Auth: &access.Spec{},
	})
	require.ErrorIs(t, err, coordkit.ErrInvalidArgument)
	require.ErrorContains(t, err, "RootPassword")
}
