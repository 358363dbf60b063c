package access

import (
	"errors"

	"github.com/coordkit/coordkit/internal/errs"
)

// Sentinel errors, always wrapped as `access: <operation>: <error>[: cause]`.
// Test for them with errors.Is. ErrInvalidArgument and ErrInvalidName are
// the values every coordkit package shares.
var (
	// ErrInvalidArgument means an argument cannot work (a nil client).
	ErrInvalidArgument = errs.InvalidArgument

	// ErrInvalidName means a role or user of the Spec has an empty name; it
	// comes with ErrInvalidSpec.
	ErrInvalidName = errs.InvalidName

	// ErrInvalidSpec means the Spec is malformed: an empty or duplicate
	// name, a role granted but not defined, an empty key, an unknown
	// permission type. The message names the offending entry.
	ErrInvalidSpec = errors.New("invalid spec")

	// ErrApply means Apply stopped on a failed step; the error names the
	// step and wraps etcd's error, and the Report lists what was applied
	// before it.
	ErrApply = errors.New("spec partly applied")

	// ErrAuthDisabled means the cluster does not have auth enabled although
	// a Spec expects it (Verify).
	ErrAuthDisabled = errors.New("auth is not enabled")

	// ErrDrift means the cluster's users, roles or permissions differ from
	// the Spec (Verify); the message lists the differences.
	ErrDrift = errors.New("cluster differs from the spec")
)
