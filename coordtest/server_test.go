package coordtest

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/server/v3/embed"

	"github.com/coordkit/coordkit/node"
)

func TestServerIsEmbeddedByDefault(t *testing.T) {
	if externalBinary() != "" {
		t.Skipf("coordtest: skipped: %s is set, so NewServer is external", EnvEtcdBinary)
	}
	t.Setenv(EnvSecure, "")
	s := NewServer(t)
	require.False(t, s.External())
	require.Equal(t, "3.7.3", s.Version())
	s.RequireVersion(t, "3.7", "nothing: this must not skip")
	roundTrip(t, s)
}

func TestServerRunsTheExternalBinaryAndNewNodeSkips(t *testing.T) {
	bin := externalBinary()
	if bin == "" {
		bin, _ = exec.LookPath("etcd")
		if bin == "" {
			t.Skipf("coordtest: skipped: no etcd server executable; set %s or put etcd on PATH (Debian's etcd-server)", EnvEtcdBinary)
		}
		t.Setenv(EnvEtcdBinary, bin)
	}
	t.Setenv(EnvSecure, "")
	want, err := binaryVersion(bin)
	require.NoError(t, err)

	var s *Server
	t.Run("server", func(t *testing.T) {
		s = NewServer(t, WithAutoCompaction("revision", "1000"))
		require.True(t, s.External())
		require.Equal(t, want, s.Version(), "the version in Status is the binary's")
		roundTrip(t, s)
	})
	select {
	case <-s.proc.done:
	default:
		t.Fatal("the etcd process still runs after its test ended")
	}

	for name, start := range map[string]func(t *testing.T){
		"NewNode":        func(t *testing.T) { NewNode(t) },
		"NewCluster":     func(t *testing.T) { NewCluster(t, 3) },
		"WithEmbed":      func(t *testing.T) { NewServer(t, WithEmbed(func(*embed.Config) {})) },
		"WithNodeConfig": func(t *testing.T) { NewServer(t, WithNodeConfig(func(*node.Config) {})) },
		"RequireVersion": func(t *testing.T) {
			NewServer(t).RequireVersion(t, "99.0", "a feature of a future etcd")
		},
	} {
		var sub *testing.T
		t.Run(name, func(t *testing.T) {
			sub = t
			start(t)
			t.Error("the test went on against an external server")
		})
		require.True(t, sub.Skipped(), name)
	}
}

func TestServerFailsOnABinaryThatIsNotEtcd(t *testing.T) {
	_, err := binaryVersion("/bin/true")
	require.ErrorContains(t, err, "not an etcd server")
	_, err = binaryVersion("/nonexistent/etcd")
	require.ErrorContains(t, err, "cannot run it")
}

func TestStartReportsAServerThatExits(t *testing.T) {
	o := defaults()
	for name, c := range map[string]struct {
		output   string
		portErr  bool
		contains string
	}{
		"port taken": {"listen tcp 127.0.0.1:1: bind: address already in use", true, "exited before it was ready"},
		"bad flag":   {"flag provided but not defined: -unsafe-no-fsync", false, "flag provided but not defined"},
	} {
		t.Run(name, func(t *testing.T) {
			bin := filepath.Join(t.TempDir(), "etcd")
			script := "#!/bin/sh\necho '" + c.output + "' >&2\nexit 1\n"
			require.NoError(t, os.WriteFile(bin, []byte(script), 0o755))
			_, err := tryStart(t, bin, "3.9.0", t.TempDir(), &o, newTestLogWriter(t))
			require.ErrorContains(t, err, c.contains)
			require.Equal(t, c.portErr, errors.Is(err, errPortTaken), "%v", err)
		})
	}
}

func TestVersionLess(t *testing.T) {
	for _, c := range []struct {
		v, min string
		less   bool
	}{
		{"3.4.23", "3.5", true},
		{"3.5.0", "3.5", false},
		{"3.6.16", "3.5", false},
		{"3.10.1", "3.9", false},
		{"2.3.8", "3.0", true},
		{"4.0.0", "3.9", false},
	} {
		require.Equal(t, c.less, versionLess(c.v, c.min), "%s < %s", c.v, c.min)
	}
}

// roundTrip writes through one client and reads through another.
func roundTrip(t *testing.T, s *Server) {
	ctx := context.Background()
	_, err := s.Client().Put(ctx, "k", "v")
	require.NoError(t, err)
	resp, err := s.NewClient(t).Get(ctx, "k")
	require.NoError(t, err)
	require.Len(t, resp.Kvs, 1)
	require.Equal(t, "v", string(resp.Kvs[0].Value))
}
