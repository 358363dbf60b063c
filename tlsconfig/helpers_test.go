package tlsconfig_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coordkit/coordkit/tlsconfig"
)

// ioTimeout bounds every network operation in the tests so a broken
// handshake fails the test instead of hanging it.
const ioTimeout = 10 * time.Second

func newCA(t testing.TB, opts ...tlsconfig.CAOption) *tlsconfig.CA {
	t.Helper()
	ca, err := tlsconfig.NewCA(t.TempDir(), opts...)
	require.NoError(t, err)
	return ca
}

func issueServer(t testing.TB, ca *tlsconfig.CA, name string, hosts ...string) tlsconfig.Files {
	t.Helper()
	f, err := ca.IssueServer(name, hosts...)
	require.NoError(t, err)
	return f
}

func issueClient(t testing.TB, ca *tlsconfig.CA, user string) tlsconfig.Files {
	t.Helper()
	f, err := ca.IssueClient(user)
	require.NoError(t, err)
	return f
}

// leafOf reads the first certificate of a PEM file.
func leafOf(t testing.TB, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	block, _ := pem.Decode(data)
	require.NotNil(t, block, "no PEM in %s", path)
	c, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	return c
}

func copyFile(t testing.TB, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(to, data, 0o600))
}

// serverResult is what the server side saw of one connection.
type serverResult struct {
	peer *x509.Certificate // client certificate, nil if none
	err  error             // handshake error
}

// testServer accepts TLS connections on 127.0.0.1, completes each
// handshake, writes one byte and closes, reporting each outcome.
type testServer struct {
	ln      net.Listener
	results chan serverResult
	wg      sync.WaitGroup
}

func startServer(t testing.TB, cfg *tls.Config) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &testServer{ln: ln, results: make(chan serverResult, 1024)}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return // listener closed
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.serve(tls.Server(c, cfg))
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		s.wg.Wait()
	})
	return s
}

func (s *testServer) serve(c *tls.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(ioTimeout))
	err := c.Handshake()
	r := serverResult{err: err}
	if err == nil {
		if pc := c.ConnectionState().PeerCertificates; len(pc) > 0 {
			r.peer = pc[0]
		}
		_, _ = c.Write([]byte{1})
	}
	select {
	case s.results <- r:
	default: // nobody is collecting; never block the server
	}
}

func (s *testServer) addr() string { return s.ln.Addr().String() }

// next returns the server side of the next connection.
func (s *testServer) next(t testing.TB) serverResult {
	t.Helper()
	select {
	case r := <-s.results:
		return r
	case <-time.After(ioTimeout):
		t.Fatal("server saw no connection")
		return serverResult{}
	}
}

// dial connects with cfg and completes the exchange: handshake, then a
// one-byte read, which is where a TLS 1.3 client learns that the server
// rejected its certificate. It returns the server's certificate.
func dial(t testing.TB, addr string, cfg *tls.Config) (*x509.Certificate, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	d := tls.Dialer{Config: cfg}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(ioTimeout))
	if _, err := c.Read(make([]byte, 1)); err != nil {
		return nil, err
	}
	return c.(*tls.Conn).ConnectionState().PeerCertificates[0], nil
}

// logBuffer collects slog output for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newLogger() (*slog.Logger, *logBuffer) {
	b := &logBuffer{}
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

// requireErrorIs asserts err wraps target and its message mentions each of
// the given fragments (the file, host or hint the user needs).
func requireErrorIs(t testing.TB, err, target error, mentions ...string) {
	t.Helper()
	require.Error(t, err)
	require.Truef(t, errors.Is(err, target), "error %q does not wrap %q", err, target)
	for _, m := range mentions {
		require.Containsf(t, err.Error(), m, "error %q should mention %q", err, m)
	}
	require.NotContains(t, err.Error(), "PRIVATE KEY-----", "error leaks key material")
	require.False(t, strings.Count(err.Error(), "tlsconfig:") > 1, "sentinel prefix repeated: %q", err)
}
