package keyguard

import (
	"errors"

	"github.com/coordkit/coordkit/lease"
)

// LossCause names why ownership ended, as a metric label from a fixed set:
// "key_deleted", "lease_expired", "lease_revoked", "deadline_passed",
// "closed" or "other".
func LossCause(err error) string {
	switch {
	case errors.Is(err, ErrKeyGone):
		return "key_deleted"
	case errors.Is(err, lease.ErrExpired):
		return "lease_expired"
	case errors.Is(err, lease.ErrRevoked):
		return "lease_revoked"
	case errors.Is(err, lease.ErrDeadlinePassed):
		return "deadline_passed"
	case errors.Is(err, lease.ErrClosed):
		return "closed"
	}
	return "other"
}
