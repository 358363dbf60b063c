package tlsconfig_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/coordkit/coordkit/tlsconfig"
)

// pki is a CA with a server certificate for 127.0.0.1 and a client
// certificate for user alice.
type pki struct {
	ca             *tlsconfig.CA
	server, client tlsconfig.Files
}

func newPKI(t testing.TB) pki {
	ca := newCA(t)
	return pki{ca: ca, server: issueServer(t, ca, "n1", "localhost", "127.0.0.1"), client: issueClient(t, ca, "alice")}
}

func serverConfig(t testing.TB, f tlsconfig.Files, opts ...tlsconfig.Option) *tls.Config {
	t.Helper()
	cfg, err := tlsconfig.Server(f, opts...)
	require.NoError(t, err)
	return cfg
}

func clientConfig(t testing.TB, f tlsconfig.Files, opts ...tlsconfig.Option) *tls.Config {
	t.Helper()
	cfg, err := tlsconfig.Client(f, opts...)
	require.NoError(t, err)
	return cfg
}

func TestMutualTLSHandshake(t *testing.T) {
	p := newPKI(t)
	srv := startServer(t, serverConfig(t, p.server))

	got, err := dial(t, srv.addr(), clientConfig(t, p.client))
	require.NoError(t, err)
	require.Equal(t, "n1", got.Subject.CommonName)
	require.Equal(t, leafOf(t, p.server.CertFile).SerialNumber, got.SerialNumber)

	r := srv.next(t)
	require.NoError(t, r.err)
	require.NotNil(t, r.peer, "server saw the client certificate")
	require.Equal(t, "alice", r.peer.Subject.CommonName)

	// An etcd member's certificate also works as a client certificate.
	_, err = dial(t, srv.addr(), clientConfig(t, p.server, tlsconfig.WithServerName("localhost")))
	require.NoError(t, err)
	require.Equal(t, "n1", srv.next(t).peer.Subject.CommonName)
}

func TestClientWithoutCertificateIsRejected(t *testing.T) {
	p := newPKI(t)
	srv := startServer(t, serverConfig(t, p.server))

	_, err := dial(t, srv.addr(), clientConfig(t, tlsconfig.Files{CAFile: p.ca.CertFile()}))
	require.Error(t, err)
	r := srv.next(t)
	require.Error(t, r.err)
	require.Nil(t, r.peer)
}

func TestClientCertificateFromOtherCAIsRejected(t *testing.T) {
	p := newPKI(t)
	other := newCA(t)
	mallory := issueClient(t, other, "mallory")
	srv := startServer(t, serverConfig(t, p.server))

	// mallory trusts the right CA but presents a certificate from another.
	f := tlsconfig.Files{CAFile: p.ca.CertFile(), CertFile: mallory.CertFile, KeyFile: mallory.KeyFile}
	_, err := tlsconfig.Client(f)
	requireErrorIs(t, err, tlsconfig.ErrUnknownAuthority, "WithoutChainCheck")
	_, err = dial(t, srv.addr(), clientConfig(t, f, tlsconfig.WithoutChainCheck()))
	require.Error(t, err)
	r := srv.next(t)
	var unknown x509.UnknownAuthorityError
	require.Truef(t, errors.As(r.err, &unknown), "server error %v", r.err)
}

func TestServerFromOtherCAIsRejected(t *testing.T) {
	p := newPKI(t)
	other := newCA(t)
	srv := startServer(t, serverConfig(t, issueServer(t, other, "impostor", "127.0.0.1"), tlsconfig.WithoutClientAuth()))

	_, err := dial(t, srv.addr(), clientConfig(t, p.client))
	var unknown x509.UnknownAuthorityError
	require.Truef(t, errors.As(err, &unknown), "client error %v", err)
	require.Error(t, srv.next(t).err)
}

func TestHostNotInSANsFailsVerification(t *testing.T) {
	p := newPKI(t)
	srv := startServer(t, serverConfig(t, p.server))

	_, err := dial(t, srv.addr(), clientConfig(t, p.client, tlsconfig.WithServerName("etcd-9.example.com")))
	var host x509.HostnameError
	require.Truef(t, errors.As(err, &host), "client error %v", err)
	require.Error(t, srv.next(t).err)
	requireErrorIs(t, tlsconfig.VerifyHost(p.server, "etcd-9.example.com"), tlsconfig.ErrHostMismatch)

	_, err = dial(t, srv.addr(), clientConfig(t, p.client, tlsconfig.WithServerName("localhost")))
	require.NoError(t, err, "a name in the SANs works")
	require.NoError(t, srv.next(t).err)
}

func TestWithoutClientAuth(t *testing.T) {
	p := newPKI(t)
	srv := startServer(t, serverConfig(t, p.server, tlsconfig.WithoutClientAuth()))

	_, err := dial(t, srv.addr(), clientConfig(t, tlsconfig.Files{CAFile: p.ca.CertFile()}))
	require.NoError(t, err, "no client certificate needed")
	r := srv.next(t)
	require.NoError(t, r.err)
	require.Nil(t, r.peer)

	_, err = dial(t, srv.addr(), clientConfig(t, p.client))
	require.NoError(t, err)
	require.Equal(t, "alice", srv.next(t).peer.Subject.CommonName, "a given certificate is still verified and seen")

	mallory := issueClient(t, newCA(t), "mallory")
	_, err = dial(t, srv.addr(), clientConfig(t, tlsconfig.Files{CAFile: p.ca.CertFile(), CertFile: mallory.CertFile, KeyFile: mallory.KeyFile}, tlsconfig.WithoutChainCheck()))
	require.Error(t, err, "a certificate from another CA is still rejected")
	require.Error(t, srv.next(t).err)
}

func TestMinVersion(t *testing.T) {
	p := newPKI(t)
	srv := startServer(t, serverConfig(t, p.server, tlsconfig.WithMinVersion(tls.VersionTLS13)))
	old := clientConfig(t, p.client)
	old.MaxVersion = tls.VersionTLS12
	_, err := dial(t, srv.addr(), old)
	require.Error(t, err)
	require.Error(t, srv.next(t).err)

	_, err = dial(t, srv.addr(), clientConfig(t, p.client))
	require.NoError(t, err)
	require.NoError(t, srv.next(t).err)
}

func TestHandshakeFromPEM(t *testing.T) {
	p := newPKI(t)
	read := func(path string) []byte {
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		return b
	}
	scfg, err := tlsconfig.ServerFromPEM(tlsconfig.PEM{CA: read(p.server.CAFile), Cert: read(p.server.CertFile), Key: read(p.server.KeyFile)})
	require.NoError(t, err)
	ccfg, err := tlsconfig.ClientFromPEM(tlsconfig.PEM{CA: read(p.client.CAFile), Cert: read(p.client.CertFile), Key: read(p.client.KeyFile)})
	require.NoError(t, err)
	srv := startServer(t, scfg)

	got, err := dial(t, srv.addr(), ccfg)
	require.NoError(t, err)
	require.Equal(t, "n1", got.Subject.CommonName)
	require.Equal(t, "alice", srv.next(t).peer.Subject.CommonName)

	anon, err := tlsconfig.ClientFromPEM(tlsconfig.PEM{CA: read(p.client.CAFile)})
	require.NoError(t, err)
	_, err = dial(t, srv.addr(), anon)
	require.Error(t, err, "PEM server requires client certificates too")
	require.Error(t, srv.next(t).err)
}

// With separate CAs for servers and clients, each side trusts the other's
// CA; WithoutChainCheck lets its own certificate come from a different one.
func TestSeparateServerAndClientCAs(t *testing.T) {
	serverCA, clientCA := newCA(t), newCA(t)
	s := issueServer(t, serverCA, "n1", "127.0.0.1")
	c := issueClient(t, clientCA, "alice")
	sf := tlsconfig.Files{CAFile: clientCA.CertFile(), CertFile: s.CertFile, KeyFile: s.KeyFile}
	cf := tlsconfig.Files{CAFile: serverCA.CertFile(), CertFile: c.CertFile, KeyFile: c.KeyFile}

	_, err := tlsconfig.Server(sf)
	requireErrorIs(t, err, tlsconfig.ErrUnknownAuthority)
	srv := startServer(t, serverConfig(t, sf, tlsconfig.WithoutChainCheck()))
	_, err = dial(t, srv.addr(), clientConfig(t, cf, tlsconfig.WithoutChainCheck()))
	require.NoError(t, err)
	require.Equal(t, "alice", srv.next(t).peer.Subject.CommonName)
}
