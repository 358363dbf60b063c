//go:build unix

package node

import (
	"os"
	"syscall"
)

// tryLockFile takes an exclusive advisory lock on f without waiting. It uses
// flock, as bbolt does for etcd's database, so it also probes whether a
// running etcd holds that database.
func tryLockFile(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
}
