package coordtest

import "syscall"

// childAttrs makes an etcd child process die with the test binary, so a
// test run that is killed leaves no server behind.
func childAttrs() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
