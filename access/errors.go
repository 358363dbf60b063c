package access

import "errors"

// Sentinel errors, wrapped with details. Test for them with errors.Is.
var (
	// ErrInvalidSpec means the Spec is malformed: an empty or duplicate
	// name, a role granted but not defined, an empty key, an unknown
	// permission type. The message names the offending entry.
	ErrInvalidSpec = errors.New("access: invalid spec")

	// ErrApply means Apply stopped on a failed step; the error names the
	// step and wraps etcd's error, and the Report lists what was applied
	// before it.
	ErrApply = errors.New("access: spec partly applied")

	// ErrAuthDisabled means the cluster does not have auth enabled although
	// a Spec expects it (Verify).
	ErrAuthDisabled = errors.New("access: auth is not enabled")

	// ErrDrift means the cluster's users, roles or permissions differ from
	// the Spec (Verify); the message lists the differences.
	ErrDrift = errors.New("access: cluster differs from the spec")
)
