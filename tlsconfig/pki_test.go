package tlsconfig_test

import (
	"crypto/x509"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/coordkit/coordkit/tlsconfig"
)

func TestCAFilesAndModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	ca, err := tlsconfig.NewCA(dir, tlsconfig.WithCAName("test CA"))
	require.NoError(t, err)
	require.Equal(t, dir, ca.Dir())
	require.Equal(t, filepath.Join(dir, "ca.pem"), ca.CertFile())
	require.Equal(t, filepath.Join(dir, "ca-key.pem"), ca.KeyFile())

	st, err := os.Stat(dir)
	require.NoError(t, err)
	require.Equal(t, fs.FileMode(0o700), st.Mode().Perm())

	n1 := issueServer(t, ca, "n1")
	alice := issueClient(t, ca, "alice")
	require.Equal(t, tlsconfig.Files{CAFile: ca.CertFile(), CertFile: filepath.Join(dir, "n1.pem"), KeyFile: filepath.Join(dir, "n1-key.pem")}, n1)
	require.Equal(t, filepath.Join(dir, "alice.pem"), alice.CertFile)
	for _, p := range []string{ca.CertFile(), ca.KeyFile(), n1.CertFile, n1.KeyFile, alice.CertFile, alice.KeyFile} {
		st, err := os.Stat(p)
		require.NoError(t, err)
		require.Equal(t, fs.FileMode(0o600), st.Mode().Perm(), p)
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 6, "no temporary files left behind")

	c := ca.Certificate()
	require.True(t, c.IsCA)
	require.Equal(t, "test CA", c.Subject.CommonName)
	require.Equal(t, c.Raw, leafOf(t, ca.CertFile()).Raw)
}

func TestIssuedCertificates(t *testing.T) {
	ca := newCA(t)
	n1 := issueServer(t, ca, "n1", "etcd-0.example.com", "10.1.2.3", "fd00::1", "[fd00::2]")
	s := leafOf(t, n1.CertFile)
	require.Equal(t, "n1", s.Subject.CommonName)
	require.Equal(t, []string{"etcd-0.example.com"}, s.DNSNames)
	require.Len(t, s.IPAddresses, 3)
	require.True(t, s.IPAddresses[0].Equal(net.ParseIP("10.1.2.3")))
	require.True(t, s.IPAddresses[1].Equal(net.ParseIP("fd00::1")))
	require.True(t, s.IPAddresses[2].Equal(net.ParseIP("fd00::2")))
	require.ElementsMatch(t, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, s.ExtKeyUsage)
	require.False(t, s.IsCA)
	require.NoError(t, s.CheckSignatureFrom(ca.Certificate()))

	p := leafOf(t, issueServer(t, ca, "p1", "127.0.0.1").CertFile)
	require.ElementsMatch(t, s.ExtKeyUsage, p.ExtKeyUsage, "peer certificates work both ways")

	def := leafOf(t, issueServer(t, ca, "local").CertFile)
	require.Equal(t, []string{"localhost"}, def.DNSNames, "no hosts means localhost")
	require.Len(t, def.IPAddresses, 2)

	peer, err := ca.IssuePeer("peer", "127.0.0.1")
	require.NoError(t, err)
	require.Equal(t, x509.ExtKeyUsageServerAuth, leafOf(t, peer.CertFile).ExtKeyUsage[0])

	c := leafOf(t, issueClient(t, ca, "alice").CertFile)
	require.Equal(t, "alice", c.Subject.CommonName, "CN is the etcd user")
	require.Equal(t, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, c.ExtKeyUsage)
	require.Empty(t, c.DNSNames)

	require.NotEqual(t, s.SerialNumber, c.SerialNumber)
	require.False(t, c.NotAfter.After(ca.Certificate().NotAfter), "leaf does not outlive the CA")
}

func TestIssueRejectsBadInput(t *testing.T) {
	ca := newCA(t)
	for _, name := range []string{"", "a/b", `a\b`, "..", "ca", "ca-key"} {
		_, err := ca.IssueServer(name)
		requireErrorIs(t, err, tlsconfig.ErrInvalidArgument)
	}
	for _, host := range []string{"", "a b", "127.0.0.1:2379", "http://x"} {
		_, err := ca.IssueServer("n1", host)
		requireErrorIs(t, err, tlsconfig.ErrInvalidArgument, "host")
	}
	_, err := ca.IssueWith(tlsconfig.IssueSpec{Name: "n1", NotBefore: ca.Certificate().NotAfter, NotAfter: ca.Certificate().NotBefore})
	requireErrorIs(t, err, tlsconfig.ErrInvalidArgument, "NotAfter")

	// The CA's files are untouched by the rejected names.
	require.NoError(t, tlsconfig.Files{CAFile: ca.CertFile()}.Validate())
	_, err = tlsconfig.LoadCA(ca.Dir())
	require.NoError(t, err)

	_, err = tlsconfig.NewCA("")
	requireErrorIs(t, err, tlsconfig.ErrInvalidArgument)
	_, err = tlsconfig.NewCA(t.TempDir(), tlsconfig.WithCAName(""))
	requireErrorIs(t, err, tlsconfig.ErrInvalidArgument)
}

func TestNewCARefusesExistingAndLoadCAReuses(t *testing.T) {
	ca := newCA(t)
	_, err := tlsconfig.NewCA(ca.Dir())
	requireErrorIs(t, err, tlsconfig.ErrInvalidArgument, "LoadCA", ca.CertFile())
	require.ErrorIs(t, err, fs.ErrExist)

	loaded, err := tlsconfig.LoadCA(ca.Dir())
	require.NoError(t, err)
	require.Equal(t, ca.Certificate().Raw, loaded.Certificate().Raw)
	f, err := loaded.IssueServer("n1")
	require.NoError(t, err)
	require.NoError(t, f.Validate(), "certificates from the loaded CA chain to the original")

	_, err = tlsconfig.LoadCA(t.TempDir())
	requireErrorIs(t, err, tlsconfig.ErrMissingFile, "ca.pem")

	// A directory whose ca.pem is a leaf is not a CA.
	dir := t.TempDir()
	copyFile(t, f.CertFile, filepath.Join(dir, "ca.pem"))
	copyFile(t, f.KeyFile, filepath.Join(dir, "ca-key.pem"))
	_, err = tlsconfig.LoadCA(dir)
	requireErrorIs(t, err, tlsconfig.ErrInvalidArgument, "not a CA")
}
