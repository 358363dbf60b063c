//go:build !linux

package coordtest

import "syscall"

// childAttrs has nothing to add outside Linux.
func childAttrs() *syscall.SysProcAttr { return nil }
