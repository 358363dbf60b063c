package node_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit"
)

// enableAuth creates root (password rootpw) and user app (password apppw)
// with readwrite on "app/", then enables auth, all through cli.
func enableAuth(t testing.TB, cli *clientv3.Client) {
	t.Helper()
	ctx := context.Background()
	for _, step := range []func() error{
		func() error { _, err := cli.UserAdd(ctx, "root", "rootpw"); return err },
		func() error { _, err := cli.UserGrantRole(ctx, "root", "root"); return err },
		func() error { _, err := cli.RoleAdd(ctx, "app"); return err },
		func() error {
			_, err := cli.RoleGrantPermission(ctx, "app", "app/", clientv3.GetPrefixRangeEnd("app/"), clientv3.PermissionType(clientv3.PermReadWrite))
			return err
		},
		func() error { _, err := cli.UserAdd(ctx, "app", "apppw"); return err },
		func() error { _, err := cli.UserGrantRole(ctx, "app", "app"); return err },
		func() error { _, err := cli.AuthEnable(ctx); return err },
	} {
		require.NoError(t, step())
	}
}

// The in-process client keeps working once auth is enabled, as the
// configured user and with that user's permissions only; before this layer
// it was refused with "user name is empty".
func TestNodeClientActsAsConfiguredUserOnceAuthIsEnabled(t *testing.T) {
	t.Parallel()
	cfg := fast("nodeauth")
	cfg.ClientUser, cfg.ClientPassword = "app", "apppw"
	n := start(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// Auth is still off: the client works without a token, and sets it up.
	cli := n.Client()
	enableAuth(t, cli)

	_, err := cli.Put(ctx, "app/a", "1")
	require.NoError(t, err, "the configured user may write its prefix")
	_, err = cli.Put(ctx, "other/a", "1")
	require.ErrorIs(t, err, rpctypes.ErrPermissionDenied, "outside its role, the user is refused")

	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	wc := cli.Watch(wctx, "app/", clientv3.WithPrefix())

	// An auth change invalidates every token issued before it (etcd's auth
	// revision); the client renews its token and carries on.
	root, err := coordkit.Connect(ctx, coordkit.ClientConfig{Endpoints: n.Endpoints(), Username: "root", Password: "rootpw"})
	require.NoError(t, err)
	defer root.Close()
	_, err = root.RoleAdd(ctx, "unrelated")
	require.NoError(t, err)

	_, err = cli.Put(ctx, "app/b", "2")
	require.NoError(t, err, "a token made stale by an auth change is renewed")
	got := <-wc
	require.NoError(t, got.Err())
	require.Equal(t, "app/b", string(got.Events[0].Kv.Key), "the watch opened before the change still delivers")

	// A new watch on the same stream is checked with the renewed token.
	_, err = root.RoleAdd(ctx, "unrelated2") // stale again
	require.NoError(t, err)
	wc2 := cli.Watch(wctx, "app/c")
	_, err = root.Put(ctx, "app/c", "3")
	require.NoError(t, err)
	got = <-wc2
	require.NoError(t, got.Err(), "a watch created with a stale token is re-created with a fresh one")
	require.Equal(t, "app/c", string(got.Events[0].Kv.Key))

	// A watch outside the role is refused, not retried forever.
	denied := <-cli.Watch(wctx, "other/")
	require.ErrorContains(t, denied.Err(), "permission denied") // etcd's watch error carries the reason as text
}

// A node whose client user has a wrong password reports that, naming the
// user and never the password.
func TestNodeClientWithWrongPasswordIsRefusedByName(t *testing.T) {
	t.Parallel()
	cfg := fast("nodeauth-wrong")
	cfg.ClientUser, cfg.ClientPassword = "app", "not-the-password"
	n := start(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Auth is set up through a second, root, in-process client: none
	// exists yet, so use the node's own before auth is on.
	enableAuth(t, n.Client())
	_, err := n.Client().Put(ctx, "app/a", "1")
	require.ErrorIs(t, err, rpctypes.ErrAuthFailed)
	require.ErrorContains(t, err, `"app"`)
	require.NotContains(t, err.Error(), "not-the-password")
}
