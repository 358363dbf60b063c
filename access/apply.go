package access

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit/internal/errs"
)

// Option adjusts Apply.
type Option func(*options)

type options struct{ removeUnlisted bool }

// RemoveUnlisted makes Apply delete the users and roles the Spec does not
// list (never root). Without it, Apply removes nothing.
func RemoveUnlisted() Option { return func(o *options) { o.removeUnlisted = true } }

// Report lists the changes Apply made, in order, without secrets. It is
// empty when the cluster already matched the Spec.
type Report struct {
	Changes []string
}

// String is the changes, one per line, or "no changes".
func (r Report) String() string {
	if len(r.Changes) == 0 {
		return "no changes"
	}
	return strings.Join(r.Changes, "\n")
}

// step is one change to the cluster.
type step struct {
	desc string
	do   func(context.Context) error
}

// Apply makes the cluster's users and roles match spec, then enables auth.
// cli must be authenticated as root once auth is enabled (before, any
// client will do; a client with root's user name and password keeps
// working across the enabling).
//
// It reads the cluster's state, plans the changes and makes them one at a
// time. The Report lists the changes made, also when a step fails: the
// error then wraps ErrApply and etcd's error, and names the step. Running
// Apply again continues where it stopped. Steps that another Apply (for
// example another member's, at start) made concurrently are accepted.
//
// Passwords of users that already exist are checked by authenticating as
// them while auth is enabled, and changed only if they differ; while auth is
// still disabled they cannot be checked and are set.
func Apply(ctx context.Context, cli *clientv3.Client, spec Spec, opts ...Option) (_ Report, err error) {
	defer wrap(&err, "apply")
	var o options
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	if err := spec.validate(); err != nil {
		return Report{}, err
	}
	if cli == nil {
		return Report{}, errs.NilClient
	}
	steps, enabled, err := plan(ctx, cli, spec, o)
	if err != nil {
		return Report{}, err
	}
	if !enabled {
		steps = append(steps, step{"auth: enabled", func(ctx context.Context) error {
			_, err := cli.AuthEnable(ctx)
			return err
		}})
	}
	var r Report
	for _, s := range steps {
		if err := s.do(ctx); err != nil {
			return r, fmt.Errorf("%w: %d of %d changes made; %s failed: %w", ErrApply, len(r.Changes), len(steps), s.desc, err)
		}
		r.Changes = append(r.Changes, s.desc)
	}
	return r, nil
}

// Verify reports whether the cluster has auth enabled and matches spec:
// nil, or an error wrapping ErrAuthDisabled or ErrDrift (listing the
// differences), or etcd's error. cli must be authenticated as root.
func Verify(ctx context.Context, cli *clientv3.Client, spec Spec) (err error) {
	defer wrap(&err, "verify")
	if err := spec.validate(); err != nil {
		return err
	}
	if cli == nil {
		return errs.NilClient
	}
	steps, enabled, err := plan(ctx, cli, spec, options{})
	if err != nil {
		return err
	}
	if !enabled {
		return fmt.Errorf("%w: the spec expects it; apply the spec (access.Apply or node.Config.Auth) or run `etcdctl auth enable`", ErrAuthDisabled)
	}
	if len(steps) > 0 {
		diffs := make([]string, len(steps))
		for i, s := range steps {
			diffs[i] = s.desc
		}
		return fmt.Errorf("%w: would change: %s", ErrDrift, strings.Join(diffs, "; "))
	}
	return nil
}

// plan reads the cluster's state and returns the steps that make it match
// spec (auth enabling aside), and whether auth is enabled.
func plan(ctx context.Context, cli *clientv3.Client, spec Spec, o options) ([]step, bool, error) {
	st, err := cli.AuthStatus(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("read auth status: %w", err)
	}
	enabled := st.Enabled
	rl, err := cli.RoleList(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("list roles: %w", err)
	}
	ul, err := cli.UserList(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("list users: %w", err)
	}
	var steps []step
	for _, r := range spec.Roles {
		s, err := planRole(ctx, cli, r, slices.Contains(rl.Roles, r.Name))
		if err != nil {
			return nil, false, err
		}
		steps = append(steps, s...)
	}
	root := User{Name: rootName, Password: spec.RootPassword, Roles: []string{rootName}}
	for _, u := range append([]User{root}, spec.Users...) {
		s, err := planUser(ctx, cli, u, slices.Contains(ul.Users, u.Name), enabled, u.Name == rootName)
		if err != nil {
			return nil, false, err
		}
		steps = append(steps, s...)
	}
	if o.removeUnlisted {
		steps = append(steps, planRemovals(cli, spec, rl.Roles, ul.Users)...)
	}
	return steps, enabled, nil
}

// tolerate turns etcd's "already so" answers, which a concurrent Apply
// causes, into success.
func tolerate(err error, already ...error) error {
	for _, a := range already {
		if errors.Is(err, a) {
			return nil
		}
	}
	return err
}

func planRole(ctx context.Context, cli *clientv3.Client, r Role, exists bool) ([]step, error) {
	var steps []step
	var have []Permission
	if exists {
		resp, err := cli.RoleGet(ctx, r.Name)
		if err != nil {
			return nil, fmt.Errorf("read role %q: %w", r.Name, err)
		}
		for _, p := range resp.Perm {
			have = append(have, Permission{Type: permFromEtcd(clientv3.PermissionType(p.PermType)), Key: string(p.Key), RangeEnd: string(p.RangeEnd)})
		}
	} else {
		steps = append(steps, step{fmt.Sprintf("role %q: created", r.Name), func(ctx context.Context) error {
			_, err := cli.RoleAdd(ctx, r.Name)
			return tolerate(err, rpctypes.ErrRoleAlreadyExist)
		}})
	}
	want := sortedPerms(r.Permissions)
	for _, p := range want {
		if slices.Contains(have, p) {
			continue
		}
		steps = append(steps, step{fmt.Sprintf("role %q: granted %s", r.Name, p), func(ctx context.Context) error {
			_, err := cli.RoleGrantPermission(ctx, r.Name, p.Key, p.RangeEnd, p.Type.etcd())
			return err
		}})
	}
	for _, p := range have {
		if slices.ContainsFunc(want, func(w Permission) bool { return w.Key == p.Key && w.RangeEnd == p.RangeEnd }) {
			continue // a grant on the same range replaces it
		}
		steps = append(steps, step{fmt.Sprintf("role %q: revoked %s", r.Name, p), func(ctx context.Context) error {
			_, err := cli.RoleRevokePermission(ctx, r.Name, p.Key, p.RangeEnd)
			return tolerate(err, rpctypes.ErrPermissionNotGranted)
		}})
	}
	return steps, nil
}

func planUser(ctx context.Context, cli *clientv3.Client, u User, exists, enabled, isRoot bool) ([]step, error) {
	var steps []step
	var have []string
	if exists {
		resp, err := cli.UserGet(ctx, u.Name)
		if err != nil {
			return nil, fmt.Errorf("read user %q: %w", u.Name, err)
		}
		have = resp.Roles
		if u.Password != "" {
			stale := true
			if enabled {
				_, aerr := cli.Authenticate(ctx, u.Name, u.Password)
				switch {
				case aerr == nil:
					stale = false
				case !errors.Is(aerr, rpctypes.ErrAuthFailed):
					return nil, fmt.Errorf("check the password of user %q: %w", u.Name, aerr)
				}
			}
			if stale {
				steps = append(steps, step{fmt.Sprintf("user %q: password set", u.Name), func(ctx context.Context) error {
					_, err := cli.UserChangePassword(ctx, u.Name, u.Password)
					return err
				}})
			}
		}
	} else {
		desc := fmt.Sprintf("user %q: created", u.Name)
		if u.Password == "" {
			desc = fmt.Sprintf("user %q: created without password (certificate CN authentication)", u.Name)
		}
		steps = append(steps, step{desc, func(ctx context.Context) error {
			_, err := cli.UserAddWithOptions(ctx, u.Name, u.Password, &clientv3.UserAddOptions{NoPassword: u.Password == ""})
			return tolerate(err, rpctypes.ErrUserAlreadyExist)
		}})
	}
	for _, r := range u.Roles {
		if slices.Contains(have, r) {
			continue
		}
		steps = append(steps, step{fmt.Sprintf("user %q: granted role %q", u.Name, r), func(ctx context.Context) error {
			_, err := cli.UserGrantRole(ctx, u.Name, r)
			return err
		}})
	}
	for _, r := range have {
		if slices.Contains(u.Roles, r) || isRoot {
			continue // root keeps any extra role it was given
		}
		steps = append(steps, step{fmt.Sprintf("user %q: revoked role %q", u.Name, r), func(ctx context.Context) error {
			_, err := cli.UserRevokeRole(ctx, u.Name, r)
			return tolerate(err, rpctypes.ErrRoleNotGranted)
		}})
	}
	return steps, nil
}

func planRemovals(cli *clientv3.Client, spec Spec, roles, users []string) []step {
	var steps []step
	for _, name := range users {
		if name == rootName || slices.ContainsFunc(spec.Users, func(u User) bool { return u.Name == name }) {
			continue
		}
		steps = append(steps, step{fmt.Sprintf("user %q: deleted (not in the spec)", name), func(ctx context.Context) error {
			_, err := cli.UserDelete(ctx, name)
			return tolerate(err, rpctypes.ErrUserNotFound)
		}})
	}
	for _, name := range roles {
		if name == rootName || slices.ContainsFunc(spec.Roles, func(r Role) bool { return r.Name == name }) {
			continue
		}
		steps = append(steps, step{fmt.Sprintf("role %q: deleted (not in the spec)", name), func(ctx context.Context) error {
			_, err := cli.RoleDelete(ctx, name)
			return tolerate(err, rpctypes.ErrRoleNotFound)
		}})
	}
	return steps
}

// wrap prefixes *err, if set, with the package and op.
func wrap(err *error, op string) {
	if *err != nil {
		*err = fmt.Errorf("access: %s: %w", op, *err)
	}
}
