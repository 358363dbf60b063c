// Package apicheck holds tests that hold every public coordkit package to
// the same API rules at once (see internal/errs for the error scheme): the
// same misuse gives the same shared sentinel everywhere, and every message
// carries its package prefix exactly once, first. It has no code of its own.
package apicheck
