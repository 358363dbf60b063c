package coordkit_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/coordkit/coordkit"
	"github.com/coordkit/coordkit/access"
	"github.com/coordkit/coordkit/kv"
	"github.com/coordkit/coordkit/tlsconfig"
)

// logBuffer collects every log line of a test, at every level.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Every way a cluster refuses a client is an errors.Is-able error naming
// what was refused and why, never a dial timeout; and no password, token or
// private key appears in any error or log line along the way.
func TestRefusalsAreTypedAndSecretsStayOutOfLogsAndErrors(t *testing.T) {
	t.Parallel()
	logs := &logBuffer{}
	debug := slog.LevelDebug
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	ca, err := tlsconfig.NewCA(t.TempDir())
	require.NoError(t, err)
	server, err := ca.IssueServer("server", "localhost", "127.0.0.1")
	require.NoError(t, err)
	const rootPW, appPW = "R00t-pw-Zq8", "App-pw-Xk2"
	spec := access.Spec{
		RootPassword: rootPW,
		Roles:        []access.Role{{Name: "app", Permissions: access.KV("app", access.ReadWrite)}},
		Users:        []access.User{{Name: "app", Password: appPW, Roles: []string{"app"}}, {Name: "app-cert", Roles: []string{"app"}}},
	}
	cfg := fast("refusals")
	cfg.ClientTLS = &server
	cfg.ClientURLs = []string{"https://127.0.0.1:0"}
	cfg.Auth = &spec
	cfg.ClientUser = "app"
	cfg.Logger, cfg.LogLevel = logger, &debug
	n := start(t, cfg)

	ctx := context.Background()
	var errs []error
	connect := func(c coordkit.ClientConfig) error {
		c.Endpoints, c.Logger, c.LogLevel = n.Endpoints(), logger, &debug
		if c.DialTimeout == 0 {
			c.DialTimeout = 2 * time.Second
		}
		cli, err := coordkit.Connect(ctx, c)
		if err == nil {
			cli.Close()
		}
		errs = append(errs, err)
		return err
	}
	certTLS := func(f tlsconfig.Files) *tls.Config {
		tc, err := tlsconfig.Client(f)
		require.NoError(t, err)
		return tc
	}
	appCert, err := ca.IssueClient("app-cert")
	require.NoError(t, err)

	t.Run("no credentials", func(t *testing.T) {
		// A node without TLS, so the client presents no identity at all.
		plain := fast("refusals-plain")
		plain.Auth = &spec
		plain.Logger, plain.LogLevel = logger, &debug
		pn := start(t, plain)
		cli, err := coordkit.Connect(ctx, coordkit.ClientConfig{Endpoints: pn.Endpoints(), Logger: logger, LogLevel: &debug})
		errs = append(errs, err)
		if cli != nil {
			cli.Close()
		}
		require.ErrorIs(t, err, coordkit.ErrAuthRefused)
		require.ErrorIs(t, err, rpctypes.ErrUserEmpty)
		require.ErrorContains(t, err, "without credentials")
		require.NotErrorIs(t, err, coordkit.ErrUnreachable)
		require.NotContains(t, err.Error(), "deadline")
	})
	t.Run("wrong password", func(t *testing.T) {
		err := connect(coordkit.ClientConfig{TLS: certTLS(appCert), Username: "app", Password: "Wr0ng-pw-Yy7"})
		require.ErrorIs(t, err, coordkit.ErrAuthRefused)
		require.ErrorIs(t, err, rpctypes.ErrAuthFailed)
		require.ErrorContains(t, err, `as user "app"`)
		require.NotContains(t, err.Error(), "Wr0ng-pw-Yy7")
	})
	t.Run("unknown user", func(t *testing.T) {
		err := connect(coordkit.ClientConfig{TLS: certTLS(appCert), Username: "ghost", Password: appPW})
		require.ErrorIs(t, err, coordkit.ErrAuthRefused)
		require.ErrorIs(t, err, rpctypes.ErrAuthFailed)
		require.ErrorContains(t, err, `as user "ghost"`)
	})
	t.Run("permission denied outside the role", func(t *testing.T) {
		cli, err := coordkit.Connect(ctx, coordkit.ClientConfig{Endpoints: n.Endpoints(), TLS: certTLS(appCert), Logger: logger, LogLevel: &debug})
		require.NoError(t, err, "the certificate's CN is the user")
		defer cli.Close()
		st, err := kv.New[string](cli, "app")
		require.NoError(t, err)
		_, err = st.Put(ctx, "k", "v")
		require.NoError(t, err)
		other, err := kv.New[string](cli, "billing")
		require.NoError(t, err)
		_, err = other.Put(ctx, "k", "v")
		errs = append(errs, err)
		require.ErrorIs(t, err, rpctypes.ErrPermissionDenied)
		require.ErrorContains(t, err, "billing/k", "the refusal names the key")
		// The node's own client, acting as app, is refused the same way.
		_, err = n.Client().Put(ctx, "billing/k", "v")
		require.ErrorIs(t, err, rpctypes.ErrPermissionDenied)
	})
	t.Run("no client certificate", func(t *testing.T) {
		err := connect(coordkit.ClientConfig{TLS: certTLS(tlsconfig.Files{CAFile: ca.CertFile()}), Username: "app", Password: appPW})
		require.ErrorIs(t, err, coordkit.ErrTLSRefused)
		require.ErrorIs(t, err, coordkit.ErrClientCertificateRequired)
		require.NotContains(t, err.Error(), "deadline")
	})
	t.Run("certificate from another CA", func(t *testing.T) {
		other, err := tlsconfig.NewCA(t.TempDir())
		require.NoError(t, err)
		oc, err := other.IssueClient("app-cert")
		require.NoError(t, err)
		pair, err := tls.LoadX509KeyPair(oc.CertFile, oc.KeyFile)
		require.NoError(t, err)
		err = connect(coordkit.ClientConfig{TLS: &tls.Config{RootCAs: pool(t, ca.CertFile()), Certificates: []tls.Certificate{pair}}})
		require.ErrorIs(t, err, coordkit.ErrTLSRefused)
		require.ErrorIs(t, err, tlsconfig.ErrUnknownAuthority)
		require.ErrorContains(t, err, "client certificate")
	})
	t.Run("expired certificate", func(t *testing.T) {
		old, err := ca.IssueWith(tlsconfig.IssueSpec{Name: "old", CommonName: "app-cert", NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})
		require.NoError(t, err)
		pair, err := tls.LoadX509KeyPair(old.CertFile, old.KeyFile)
		require.NoError(t, err)
		err = connect(coordkit.ClientConfig{TLS: &tls.Config{RootCAs: pool(t, ca.CertFile()), Certificates: []tls.Certificate{pair}}})
		require.ErrorIs(t, err, coordkit.ErrTLSRefused)
		require.ErrorIs(t, err, tlsconfig.ErrExpired)
	})
	t.Run("server certificate from another CA", func(t *testing.T) {
		other, err := tlsconfig.NewCA(t.TempDir())
		require.NoError(t, err)
		err = connect(coordkit.ClientConfig{TLS: &tls.Config{RootCAs: pool(t, other.CertFile())}})
		require.ErrorIs(t, err, coordkit.ErrTLSRefused)
		require.ErrorIs(t, err, tlsconfig.ErrUnknownAuthority)
		require.ErrorContains(t, err, "server's certificate")
	})
	t.Run("auth not enabled when the spec expects it", func(t *testing.T) {
		off := start(t, fast("refusals-off"))
		err := access.Verify(ctx, off.Client(), spec)
		errs = append(errs, err)
		require.ErrorIs(t, err, access.ErrAuthDisabled)
	})

	// Tokens: the node client's token, renewed after an auth change, and a
	// token handed out to a gRPC client.
	root, err := coordkit.Connect(ctx, coordkit.ClientConfig{Endpoints: n.Endpoints(), TLS: certTLS(appCert), Username: "root", Password: rootPW, Logger: logger, LogLevel: &debug})
	require.NoError(t, err)
	defer root.Close()
	tok, err := root.Authenticate(ctx, "app", appPW)
	require.NoError(t, err)
	_, err = root.RoleAdd(ctx, "bump") // invalidates every token issued so far
	require.NoError(t, err)
	_, err = n.Client().Put(ctx, "app/after-bump", "v")
	require.NoError(t, err)

	secrets := []string{rootPW, appPW, "Wr0ng-pw-Yy7", tok.Token}
	for _, f := range []string{server.KeyFile, appCert.KeyFile, ca.KeyFile()} {
		secrets = append(secrets, keyMaterial(t, f)...)
	}
	var all strings.Builder
	for _, e := range errs {
		if e != nil {
			fmt.Fprintln(&all, e.Error())
		}
	}
	all.WriteString(logs.String())
	require.NotEmpty(t, logs.String(), "the logs were captured")
	for _, s := range secrets {
		require.NotContains(t, all.String(), s, "a secret leaked into an error or a log line")
	}
}

func pool(t *testing.T, caFile string) *x509.CertPool {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	require.NoError(t, err)
	p := x509.NewCertPool()
	require.True(t, p.AppendCertsFromPEM(pem))
	return p
}

// keyMaterial returns the base64 lines of a PEM private key.
func keyMaterial(t *testing.T, file string) []string {
	t.Helper()
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if len(line) > 20 && !strings.HasPrefix(line, "-----") {
			out = append(out, line)
		}
	}
	require.NotEmpty(t, out)
	return out
}
