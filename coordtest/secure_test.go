package coordtest

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/coordkit/coordkit"
	"github.com/coordkit/coordkit/tlsconfig"
)

// Secure mode is what it claims: three members serving only mutual TLS,
// auth on, and the test's clients confined to its prefix, which their
// namespace puts every key in; a client without a certificate, or without
// credentials, is refused. It runs in every mode but external (which
// secure mode excludes), so the ordinary run checks it too. Not parallel:
// it sets the environment.
func TestServerSecureModeIsSecure(t *testing.T) {
	if bin := externalBinary(); bin != "" {
		t.Skipf("coordtest: skipped: %s is set, and secure mode runs embedded members only", EnvEtcdBinary)
	}
	t.Setenv(EnvSecure, "1")
	s := NewServer(t)
	require.True(t, s.Secure())
	require.False(t, s.External())
	require.Equal(t, "3.7.3", s.Version())
	require.Len(t, s.Endpoints(), 3)
	for _, ep := range s.Endpoints() {
		require.True(t, strings.HasPrefix(ep, "https://127.0.0.1:"), ep)
	}
	roundTrip(t, s)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The namespace put "k" under the test's prefix, where the user may
	// read it without a namespace, and nowhere else.
	raw := s.secure.rawClient(t)
	resp, err := raw.Get(ctx, s.secure.prefix+"k")
	require.NoError(t, err)
	require.Len(t, resp.Kvs, 1)
	require.Equal(t, "coordtest/TestServerSecureModeIsSecure/", s.secure.prefix)
	_, err = raw.Get(ctx, "k")
	require.ErrorIs(t, err, rpctypes.ErrPermissionDenied, "a key outside the prefix")
	_, err = raw.Put(ctx, "coordtest/other-test/k", "v")
	require.ErrorIs(t, err, rpctypes.ErrPermissionDenied, "another test's prefix")

	// No client certificate: the TLS handshake is refused.
	caOnly, err := tlsconfig.Client(tlsconfig.Files{CAFile: s.secure.ca.CertFile()})
	require.NoError(t, err)
	_, err = coordkit.Connect(ctx, coordkit.ClientConfig{
		Endpoints: s.Endpoints(), TLS: caOnly, Username: secureUser, Password: securePassword, DialTimeout: 2 * time.Second, Logger: discard,
	})
	require.ErrorIs(t, err, coordkit.ErrClientCertificateRequired)
	// Plain HTTP to the TLS ports gets nowhere.
	plain := strings.Replace(s.Endpoints()[0], "https://", "http://", 1)
	_, err = coordkit.Connect(ctx, coordkit.ClientConfig{Endpoints: []string{plain}, DialTimeout: 2 * time.Second, Logger: discard})
	require.Error(t, err)
	// A certificate without credentials: its CN is no user, so nothing is
	// allowed.
	anon := connect(t, coordkit.ClientConfig{Endpoints: s.Endpoints(), TLS: s.secure.tls})
	_, err = anon.Get(ctx, s.secure.prefix+"k")
	require.Error(t, err)
}

// In secure mode, NewNode, NewCluster and WithFullAccess skip, saying why.
func TestServerSecureModeSkipsWhatItCannotRun(t *testing.T) {
	if bin := externalBinary(); bin != "" {
		t.Skipf("coordtest: skipped: %s is set, and secure mode runs embedded members only", EnvEtcdBinary)
	}
	t.Setenv(EnvSecure, "1")
	for name, start := range map[string]func(t *testing.T){
		"NewNode":        func(t *testing.T) { NewNode(t) },
		"NewCluster":     func(t *testing.T) { NewCluster(t, 3) },
		"WithFullAccess": func(t *testing.T) { NewServer(t, WithFullAccess("compacts the history")) },
	} {
		var sub *testing.T
		t.Run(name, func(t *testing.T) {
			sub = t
			start(t)
			t.Error("the test went on in secure mode")
		})
		require.True(t, sub.Skipped(), name)
	}
}

var discard = slog.New(slog.DiscardHandler)

func TestSecurePrefix(t *testing.T) {
	require.Equal(t, "coordtest/TestA_b_c-d_e/", securePrefix("TestA/b c-d_e"))
}
