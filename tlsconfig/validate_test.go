package tlsconfig_test

import (
	"crypto/tls"
	"crypto/x509"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coordkit/coordkit/tlsconfig"
)

func TestValidateAcceptsIssuedFiles(t *testing.T) {
	ca := newCA(t)
	for _, f := range []tlsconfig.Files{
		issueServer(t, ca, "n1", "localhost", "127.0.0.1"),
		issueClient(t, ca, "alice"),
		{CAFile: ca.CertFile()},
	} {
		require.NoError(t, f.Validate(), "%+v", f)
	}
}

func TestMissingFile(t *testing.T) {
	ca := newCA(t)
	good := issueServer(t, ca, "n1")
	nowhere := filepath.Join(t.TempDir(), "nope.pem")

	cases := map[string]struct {
		f        tlsconfig.Files
		mentions []string
	}{
		"empty":            {tlsconfig.Files{}, []string{"Files is empty"}},
		"CA not found":     {tlsconfig.Files{CAFile: nowhere}, []string{"CA file", nowhere}},
		"cert not found":   {tlsconfig.Files{CAFile: good.CAFile, CertFile: nowhere, KeyFile: good.KeyFile}, []string{"cert file", nowhere}},
		"key not found":    {tlsconfig.Files{CAFile: good.CAFile, CertFile: good.CertFile, KeyFile: nowhere}, []string{"key file", nowhere}},
		"cert without key": {tlsconfig.Files{CertFile: good.CertFile}, []string{"KeyFile is empty", "set both or neither"}},
		"key without cert": {tlsconfig.Files{KeyFile: good.KeyFile}, []string{"CertFile is empty", "set both or neither"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			err := tc.f.Validate()
			requireErrorIs(t, err, tlsconfig.ErrMissingFile, tc.mentions...)
			if strings.Contains(name, "not found") {
				require.ErrorIs(t, err, fs.ErrNotExist, "the os error is wrapped too")
			}
		})
	}

	t.Run("Client and Server fail the same way", func(t *testing.T) {
		f := tlsconfig.Files{CAFile: good.CAFile, CertFile: good.CertFile, KeyFile: nowhere}
		_, err := tlsconfig.Client(f)
		requireErrorIs(t, err, tlsconfig.ErrMissingFile, nowhere)
		_, err = tlsconfig.Server(f)
		requireErrorIs(t, err, tlsconfig.ErrMissingFile, nowhere)
	})
	t.Run("server needs a cert", func(t *testing.T) {
		_, err := tlsconfig.Server(tlsconfig.Files{CAFile: good.CAFile})
		requireErrorIs(t, err, tlsconfig.ErrMissingFile, "CertFile and KeyFile")
	})
	t.Run("mutual TLS server needs a CA", func(t *testing.T) {
		_, err := tlsconfig.Server(tlsconfig.Files{CertFile: good.CertFile, KeyFile: good.KeyFile})
		requireErrorIs(t, err, tlsconfig.ErrMissingFile, "CAFile", "WithoutClientAuth")
		_, err = tlsconfig.Server(tlsconfig.Files{CertFile: good.CertFile, KeyFile: good.KeyFile}, tlsconfig.WithoutClientAuth())
		require.NoError(t, err)
	})
}

func TestMalformedPEM(t *testing.T) {
	ca := newCA(t)
	good := issueServer(t, ca, "n1")
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
		return p
	}
	garbage := write("garbage.pem", "this is not PEM\n")
	empty := write("empty.pem", "")
	badDER := write("bad-der.pem", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
	badKey := write("bad-key.pem", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
	encrypted := write("enc-key.pem", "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n")

	cases := map[string]struct {
		f        tlsconfig.Files
		mentions []string
	}{
		"CA garbage":           {tlsconfig.Files{CAFile: garbage}, []string{"CA file", garbage, "no PEM data"}},
		"cert empty":           {tlsconfig.Files{CertFile: empty, KeyFile: good.KeyFile}, []string{"cert file", empty, "no PEM data"}},
		"cert bad DER":         {tlsconfig.Files{CertFile: badDER, KeyFile: good.KeyFile}, []string{badDER, "cannot be parsed"}},
		"key bad DER":          {tlsconfig.Files{CertFile: good.CertFile, KeyFile: badKey}, []string{badKey, "cannot be parsed"}},
		"key encrypted":        {tlsconfig.Files{CertFile: good.CertFile, KeyFile: encrypted}, []string{encrypted, "encrypted"}},
		"cert and key swapped": {tlsconfig.Files{CertFile: good.KeyFile, KeyFile: good.CertFile}, []string{good.KeyFile, "swapped"}},
		"key given as CA":      {tlsconfig.Files{CAFile: good.KeyFile}, []string{"CA file", "swapped"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			requireErrorIs(t, tc.f.Validate(), tlsconfig.ErrMalformedPEM, tc.mentions...)
		})
	}
	t.Run("key given as key file but holds a certificate", func(t *testing.T) {
		requireErrorIs(t, tlsconfig.Files{CertFile: good.CertFile, KeyFile: good.CAFile}.Validate(),
			tlsconfig.ErrMalformedPEM, "key file", "swapped")
	})
}

func TestKeyMismatch(t *testing.T) {
	ca := newCA(t)
	n1 := issueServer(t, ca, "n1")
	n2 := issueServer(t, ca, "n2")
	f := tlsconfig.Files{CAFile: n1.CAFile, CertFile: n1.CertFile, KeyFile: n2.KeyFile}
	requireErrorIs(t, f.Validate(), tlsconfig.ErrKeyMismatch, n1.CertFile, n2.KeyFile)
	_, err := tlsconfig.Server(f)
	requireErrorIs(t, err, tlsconfig.ErrKeyMismatch)
	_, err = tlsconfig.Client(f)
	requireErrorIs(t, err, tlsconfig.ErrKeyMismatch)
}

func TestExpiredAndNotYetValid(t *testing.T) {
	ca := newCA(t)
	now := time.Now()
	expired, err := ca.IssueWith(tlsconfig.IssueSpec{Name: "old", Hosts: []string{"localhost"},
		NotBefore: now.Add(-2 * time.Hour), NotAfter: now.Add(-time.Hour)})
	require.NoError(t, err)
	future, err := ca.IssueWith(tlsconfig.IssueSpec{Name: "future", Hosts: []string{"localhost"},
		NotBefore: now.Add(time.Hour), NotAfter: now.Add(2 * time.Hour)})
	require.NoError(t, err)

	requireErrorIs(t, expired.Validate(), tlsconfig.ErrExpired, expired.CertFile, "expired at", "issue a new certificate")
	requireErrorIs(t, future.Validate(), tlsconfig.ErrNotYetValid, future.CertFile, "valid from", "clock")
	for _, f := range []tlsconfig.Files{expired, future} {
		_, err := tlsconfig.Server(f)
		require.Error(t, err)
		_, err = tlsconfig.Client(f)
		require.Error(t, err)
	}

	t.Run("expired CA", func(t *testing.T) {
		old := newCA(t, tlsconfig.WithCAValidity(now.Add(-48*time.Hour), now.Add(-time.Hour)))
		// The leaf is within its own window; only the CA is expired.
		leaf, err := old.IssueWith(tlsconfig.IssueSpec{Name: "n1", Hosts: []string{"localhost"},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour)})
		require.NoError(t, err)
		requireErrorIs(t, leaf.Validate(), tlsconfig.ErrExpired, "CA file", old.CertFile())
		requireErrorIs(t, tlsconfig.Files{CAFile: old.CertFile()}.Validate(), tlsconfig.ErrExpired, old.CertFile())
	})
	t.Run("not-yet-valid CA", func(t *testing.T) {
		young := newCA(t, tlsconfig.WithCAValidity(now.Add(time.Hour), now.Add(48*time.Hour)))
		requireErrorIs(t, tlsconfig.Files{CAFile: young.CertFile()}.Validate(), tlsconfig.ErrNotYetValid, young.CertFile())
	})
}

func TestUnknownAuthority(t *testing.T) {
	ca1, ca2 := newCA(t), newCA(t)
	n1 := issueServer(t, ca1, "n1")
	f := tlsconfig.Files{CAFile: ca2.CertFile(), CertFile: n1.CertFile, KeyFile: n1.KeyFile}
	requireErrorIs(t, f.Validate(), tlsconfig.ErrUnknownAuthority, n1.CertFile, ca2.CertFile(), "does not chain")
	_, err := tlsconfig.Server(f)
	requireErrorIs(t, err, tlsconfig.ErrUnknownAuthority)
	_, err = tlsconfig.Client(f)
	requireErrorIs(t, err, tlsconfig.ErrUnknownAuthority)

	// A CA file holding both CAs trusts either.
	both := filepath.Join(t.TempDir(), "both.pem")
	a, err := os.ReadFile(ca1.CertFile())
	require.NoError(t, err)
	b, err := os.ReadFile(ca2.CertFile())
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(both, append(b, a...), 0o600))
	f.CAFile = both
	require.NoError(t, f.Validate())
}

func TestVerifyHost(t *testing.T) {
	ca := newCA(t)
	f := issueServer(t, ca, "n1", "etcd-0.example.com", "*.svc.local", "10.0.0.7", "::1")
	for _, ok := range []string{"etcd-0.example.com", "a.svc.local", "10.0.0.7", "::1", "[::1]:2379", "10.0.0.7:2379"} {
		require.NoError(t, tlsconfig.VerifyHost(f, ok), ok)
	}
	for _, bad := range []string{"etcd-1.example.com", "127.0.0.1", "10.0.0.8:2379", "a.b.svc.local"} {
		requireErrorIs(t, tlsconfig.VerifyHost(f, bad), tlsconfig.ErrHostMismatch,
			f.CertFile, "etcd-0.example.com", "10.0.0.7", "reissue")
	}
	requireErrorIs(t, tlsconfig.VerifyHost(f, ""), tlsconfig.ErrInvalidArgument)
	requireErrorIs(t, tlsconfig.VerifyHost(tlsconfig.Files{}, "x"), tlsconfig.ErrMissingFile)
}

func TestKeyUsage(t *testing.T) {
	ca := newCA(t)
	client := issueClient(t, ca, "alice")
	_, err := tlsconfig.Server(client)
	requireErrorIs(t, err, tlsconfig.ErrKeyUsage, client.CertFile, "serverAuth")

	serverOnly, err := ca.IssueWith(tlsconfig.IssueSpec{Name: "web", Hosts: []string{"localhost"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	require.NoError(t, err)
	_, err = tlsconfig.Client(serverOnly)
	requireErrorIs(t, err, tlsconfig.ErrKeyUsage, serverOnly.CertFile, "clientAuth")
	_, err = tlsconfig.Server(serverOnly)
	require.NoError(t, err)
}

func TestInvalidOption(t *testing.T) {
	ca := newCA(t)
	f := issueServer(t, ca, "n1")
	_, err := tlsconfig.Server(f, tlsconfig.WithMinVersion(0x1234))
	requireErrorIs(t, err, tlsconfig.ErrInvalidArgument, "WithMinVersion")
	_, err = tlsconfig.Client(f, tlsconfig.WithMinVersion(tls.VersionTLS13))
	require.NoError(t, err)
}

func TestPEMValidate(t *testing.T) {
	ca := newCA(t)
	n1 := issueServer(t, ca, "n1")
	n2 := issueServer(t, ca, "n2")
	other := newCA(t)
	read := func(p string) []byte {
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		return b
	}
	good := tlsconfig.PEM{CA: read(n1.CAFile), Cert: read(n1.CertFile), Key: read(n1.KeyFile)}
	require.NoError(t, good.Validate())

	requireErrorIs(t, tlsconfig.PEM{}.Validate(), tlsconfig.ErrMissingFile, "PEM is empty")
	requireErrorIs(t, tlsconfig.PEM{Cert: good.Cert}.Validate(), tlsconfig.ErrMissingFile, "PEM.Key")
	requireErrorIs(t, tlsconfig.PEM{Cert: good.Cert, Key: read(n2.KeyFile)}.Validate(), tlsconfig.ErrKeyMismatch, "PEM.Key", "PEM.Cert")
	requireErrorIs(t, tlsconfig.PEM{CA: []byte("nope")}.Validate(), tlsconfig.ErrMalformedPEM, "PEM.CA")
	requireErrorIs(t, tlsconfig.PEM{CA: read(other.CertFile()), Cert: good.Cert, Key: good.Key}.Validate(),
		tlsconfig.ErrUnknownAuthority, "PEM.Cert", "PEM.CA")

	_, err := tlsconfig.ServerFromPEM(tlsconfig.PEM{Cert: good.Cert, Key: good.Key})
	requireErrorIs(t, err, tlsconfig.ErrMissingFile, "PEM.CA", "WithoutClientAuth")
	_, err = tlsconfig.ServerFromPEM(tlsconfig.PEM{CA: good.CA})
	requireErrorIs(t, err, tlsconfig.ErrMissingFile, "PEM.Cert")
	client := issueClient(t, ca, "bob")
	_, err = tlsconfig.ServerFromPEM(tlsconfig.PEM{CA: good.CA, Cert: read(client.CertFile), Key: read(client.KeyFile)})
	requireErrorIs(t, err, tlsconfig.ErrKeyUsage, "PEM.Cert")
}
