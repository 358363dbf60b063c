package tlsconfig_test

import (
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coordkit/coordkit/tlsconfig"
)

func TestServerCertificateRotation(t *testing.T) {
	p := newPKI(t)
	log, logs := newLogger()
	srv := startServer(t, serverConfig(t, p.server, tlsconfig.WithLogger(log)))
	cfg := clientConfig(t, p.client)

	first, err := dial(t, srv.addr(), cfg)
	require.NoError(t, err)
	require.NoError(t, srv.next(t).err)
	require.Equal(t, leafOf(t, p.server.CertFile).SerialNumber, first.SerialNumber)

	// Issue again under the same name: new key and serial over the same files.
	_, err = p.ca.IssueServer("n1", "localhost", "127.0.0.1")
	require.NoError(t, err)
	want := leafOf(t, p.server.CertFile).SerialNumber
	require.NotEqual(t, first.SerialNumber, want)

	second, err := dial(t, srv.addr(), cfg)
	require.NoError(t, err)
	require.NoError(t, srv.next(t).err)
	require.Equal(t, want, second.SerialNumber, "the next handshake presents the new certificate")
	require.Contains(t, logs.String(), "certificate reloaded")
	require.NotContains(t, logs.String(), "PRIVATE KEY")
}

func TestClientCertificateRotation(t *testing.T) {
	p := newPKI(t)
	srv := startServer(t, serverConfig(t, p.server))
	cfg := clientConfig(t, p.client)

	_, err := dial(t, srv.addr(), cfg)
	require.NoError(t, err)
	first := srv.next(t).peer.SerialNumber

	_, err = p.ca.IssueClient("alice")
	require.NoError(t, err)
	want := leafOf(t, p.client.CertFile).SerialNumber
	require.NotEqual(t, first, want)

	_, err = dial(t, srv.addr(), cfg)
	require.NoError(t, err)
	require.Equal(t, want, srv.next(t).peer.SerialNumber)
}

// A half-written or bad rotation must not take the server down: it keeps
// serving the last good pair, says why, and picks up the pair once it is
// whole.
func TestRotationKeepsLastGoodPair(t *testing.T) {
	p := newPKI(t)
	log, logs := newLogger()
	srv := startServer(t, serverConfig(t, p.server, tlsconfig.WithLogger(log)))
	cfg := clientConfig(t, p.client)
	original := leafOf(t, p.server.CertFile).SerialNumber

	handshake := func() string {
		t.Helper()
		got, err := dial(t, srv.addr(), cfg)
		require.NoError(t, err)
		require.NoError(t, srv.next(t).err)
		return got.SerialNumber.Text(16)
	}

	// Only the certificate is replaced so far: it does not match the key.
	next, err := p.ca.IssueServer("next", "127.0.0.1")
	require.NoError(t, err)
	copyFile(t, next.CertFile, p.server.CertFile)
	require.Equal(t, original.Text(16), handshake())
	require.Contains(t, logs.String(), "new certificate on disk rejected")
	require.Contains(t, logs.String(), "does not match")
	require.Equal(t, 1, strings.Count(logs.String(), "rejected"), "one report per bad state, not per handshake")
	require.Equal(t, original.Text(16), handshake())
	require.Equal(t, 1, strings.Count(logs.String(), "rejected"))

	// Now the key follows.
	copyFile(t, next.KeyFile, p.server.KeyFile)
	require.Equal(t, leafOf(t, next.CertFile).SerialNumber.Text(16), handshake())

	// An expired replacement is refused too.
	current := leafOf(t, p.server.CertFile).SerialNumber.Text(16)
	now := time.Now()
	old, err := p.ca.IssueWith(tlsconfig.IssueSpec{Name: "old", Hosts: []string{"127.0.0.1"}, NotBefore: now.Add(-2 * time.Hour), NotAfter: now.Add(-time.Hour)})
	require.NoError(t, err)
	copyFile(t, old.KeyFile, p.server.KeyFile)
	copyFile(t, old.CertFile, p.server.CertFile)
	require.Equal(t, current, handshake())
	require.Contains(t, logs.String(), "expired")

	// So is a certificate from another CA.
	foreign := issueServer(t, newCA(t), "n1", "127.0.0.1")
	copyFile(t, foreign.KeyFile, p.server.KeyFile)
	copyFile(t, foreign.CertFile, p.server.CertFile)
	require.Equal(t, current, handshake())
	require.Contains(t, logs.String(), "does not chain")

	// And files that vanish.
	require.NoError(t, os.Remove(p.server.CertFile))
	require.Equal(t, current, handshake())
	require.Contains(t, logs.String(), "cannot re-read certificate")

	require.NotContains(t, logs.String(), "PRIVATE KEY")
}

// Handshakes racing with rotations all succeed and each sees one of the
// issued certificates (run with -race).
func TestConcurrentHandshakesDuringRotation(t *testing.T) {
	p := newPKI(t)
	srv := startServer(t, serverConfig(t, p.server))
	cfg := clientConfig(t, p.client)

	issued := map[string]bool{leafOf(t, p.server.CertFile).SerialNumber.Text(16): true}
	const clients, each, rotations = 4, 8, 5

	errs := make(chan error, clients*each)
	seen := make(chan string, clients*each)
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				got, err := dial(t, srv.addr(), cfg)
				if err != nil {
					errs <- err
					continue
				}
				seen <- got.SerialNumber.Text(16)
			}
		}()
	}
	for range rotations {
		f, err := p.ca.IssueServer("n1", "localhost", "127.0.0.1")
		require.NoError(t, err)
		issued[leafOf(t, f.CertFile).SerialNumber.Text(16)] = true
	}
	wg.Wait() // seen is checked only now, after every serial is recorded
	close(errs)
	close(seen)
	for err := range errs {
		require.NoError(t, err)
	}
	n := 0
	for s := range seen {
		require.True(t, issued[s], "serial %s was never issued", s)
		n++
	}
	require.Equal(t, clients*each, n)
}
