package access

import (
	"fmt"
	"sort"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Perm is a permission type: Read, Write or ReadWrite.
type Perm int

// The permission types, as etcd's `role grant-permission` names them.
const (
	Read Perm = iota + 1
	Write
	ReadWrite
)

// String returns etcd's name for p: "read", "write" or "readwrite".
func (p Perm) String() string {
	switch p {
	case Read:
		return "read"
	case Write:
		return "write"
	case ReadWrite:
		return "readwrite"
	}
	return fmt.Sprintf("Perm(%d)", int(p))
}

func (p Perm) etcd() clientv3.PermissionType {
	switch p {
	case Read:
		return clientv3.PermissionType(clientv3.PermRead)
	case Write:
		return clientv3.PermissionType(clientv3.PermWrite)
	}
	return clientv3.PermissionType(clientv3.PermReadWrite)
}

func permFromEtcd(t clientv3.PermissionType) Perm {
	switch t {
	case clientv3.PermissionType(clientv3.PermRead):
		return Read
	case clientv3.PermissionType(clientv3.PermWrite):
		return Write
	}
	return ReadWrite
}

// Permission grants Type on one key (RangeEnd empty), or on the keys from
// Key up to, not including, RangeEnd. Build them with OnKey, OnPrefix and
// OnRange.
type Permission struct {
	Type     Perm
	Key      string
	RangeEnd string
}

// OnKey grants p on the single key k.
func OnKey(k string, p Perm) Permission { return Permission{Type: p, Key: k} }

// OnPrefix grants p on every key starting with prefix; the empty prefix
// is the whole keyspace.
func OnPrefix(prefix string, p Perm) Permission {
	if prefix == "" {
		return Permission{Type: p, Key: "\x00", RangeEnd: "\x00"}
	}
	return Permission{Type: p, Key: prefix, RangeEnd: clientv3.GetPrefixRangeEnd(prefix)}
}

// OnRange grants p on the keys in [from, to).
func OnRange(from, to string, p Perm) Permission {
	return Permission{Type: p, Key: from, RangeEnd: to}
}

// String describes the permission the way etcdctl would grant it.
func (p Permission) String() string {
	switch {
	case p.RangeEnd == "":
		return fmt.Sprintf("%s %q", p.Type, p.Key)
	case p.RangeEnd == clientv3.GetPrefixRangeEnd(p.Key):
		return fmt.Sprintf("%s prefix %q", p.Type, p.Key)
	}
	return fmt.Sprintf("%s [%q, %q)", p.Type, p.Key, p.RangeEnd)
}

// Role is a named set of permissions.
type Role struct {
	Name        string
	Permissions []Permission
}

// User is an etcd user. An empty Password makes a user that cannot log in
// with a password, only with a client certificate whose CN is Name (etcd's
// --client-cert-auth).
type User struct {
	Name     string
	Password string
	Roles    []string
}

// String names the user without its password.
func (u User) String() string { return fmt.Sprintf("user %q", u.Name) }

// GoString keeps the password out of %#v.
func (u User) GoString() string {
	return fmt.Sprintf("access.User{Name: %q, Password: <redacted>, Roles: %q}", u.Name, u.Roles)
}

// Spec is the desired set of roles and users. The root user always exists
// once auth is enabled; RootPassword is its password, or empty for a root
// that authenticates only by client certificate (CN "root").
type Spec struct {
	RootPassword string
	Roles        []Role
	Users        []User
}

// GoString keeps passwords out of %#v.
func (s Spec) GoString() string {
	users := make([]string, len(s.Users))
	for i, u := range s.Users {
		users[i] = u.GoString()
	}
	return fmt.Sprintf("access.Spec{RootPassword: <redacted>, Roles: %+v, Users: [%s]}", s.Roles, strings.Join(users, ", "))
}

// String summarises the spec without secrets.
func (s Spec) String() string {
	names := make([]string, len(s.Users))
	for i, u := range s.Users {
		names[i] = u.Name
	}
	roles := make([]string, len(s.Roles))
	for i, r := range s.Roles {
		roles[i] = r.Name
	}
	return fmt.Sprintf("access spec (roles %q, users %q, root)", roles, names)
}

const rootName = "root"

// Validate reports the first malformed entry of s, wrapping ErrInvalidSpec.
func (s Spec) Validate() error {
	if err := s.validate(); err != nil {
		return fmt.Errorf("access: validate spec: %w", err)
	}
	return nil
}

// validate is Validate without the package prefix.
func (s Spec) validate() error {
	roles := map[string]bool{rootName: true}
	for _, r := range s.Roles {
		switch {
		case r.Name == "":
			return fmt.Errorf("%w: %w: a role has an empty name", ErrInvalidSpec, ErrInvalidName)
		case r.Name == rootName:
			return fmt.Errorf("%w: role %q is etcd's built-in superuser role; grant it to users instead of defining it", ErrInvalidSpec, rootName)
		case roles[r.Name]:
			return fmt.Errorf("%w: role %q is defined twice", ErrInvalidSpec, r.Name)
		}
		roles[r.Name] = true
		for _, p := range r.Permissions {
			if err := p.validate(); err != nil {
				return fmt.Errorf("%w: role %q: %w", ErrInvalidSpec, r.Name, err)
			}
		}
	}
	users := map[string]bool{}
	for _, u := range s.Users {
		switch {
		case u.Name == "":
			return fmt.Errorf("%w: %w: a user has an empty name", ErrInvalidSpec, ErrInvalidName)
		case u.Name == rootName:
			return fmt.Errorf("%w: user %q is managed through Spec.RootPassword, not Users", ErrInvalidSpec, rootName)
		case users[u.Name]:
			return fmt.Errorf("%w: user %q is listed twice", ErrInvalidSpec, u.Name)
		}
		users[u.Name] = true
		for _, r := range u.Roles {
			if !roles[r] {
				return fmt.Errorf("%w: user %q has role %q, which the spec does not define", ErrInvalidSpec, u.Name, r)
			}
		}
	}
	return nil
}

func (p Permission) validate() error {
	switch {
	case p.Type < Read || p.Type > ReadWrite:
		return fmt.Errorf("permission on %q: unknown type %d; use Read, Write or ReadWrite", p.Key, int(p.Type))
	case p.Key == "":
		return fmt.Errorf("permission with an empty key; OnPrefix(\"\", p) grants the whole keyspace")
	case p.RangeEnd != "" && p.RangeEnd != "\x00" && p.RangeEnd <= p.Key:
		return fmt.Errorf("permission on [%q, %q): the range end must sort after the key", p.Key, p.RangeEnd)
	}
	return nil
}

// sortedPerms is a role's permissions in a canonical order, duplicates
// (same key and range) collapsed to the last one, as etcd would store them.
func sortedPerms(ps []Permission) []Permission {
	byRange := map[[2]string]Permission{}
	for _, p := range ps {
		byRange[[2]string{p.Key, p.RangeEnd}] = p
	}
	out := make([]Permission, 0, len(byRange))
	for _, p := range byRange {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Key != out[j].Key {
			return out[i].Key < out[j].Key
		}
		return out[i].RangeEnd < out[j].RangeEnd
	})
	return out
}
