package tlsconfig_test

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/coordkit/coordkit/tlsconfig"
)

// BenchmarkHandshake measures a full mutual TLS handshake over loopback
// (dial, handshake, one byte, close) with configurations from Files
// (certificate re-read at each handshake for rotation), from PEM (fixed)
// and a hand-written crypto/tls baseline, to show what rotation costs.
func BenchmarkHandshake(b *testing.B) {
	p := newPKI(b)
	read := func(path string) []byte {
		data, err := os.ReadFile(path)
		require.NoError(b, err)
		return data
	}
	stdlib := func() (*tls.Config, *tls.Config) {
		pool := x509.NewCertPool()
		require.True(b, pool.AppendCertsFromPEM(read(p.ca.CertFile())))
		sc, err := tls.LoadX509KeyPair(p.server.CertFile, p.server.KeyFile)
		require.NoError(b, err)
		cc, err := tls.LoadX509KeyPair(p.client.CertFile, p.client.KeyFile)
		require.NoError(b, err)
		return &tls.Config{Certificates: []tls.Certificate{sc}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12},
			&tls.Config{Certificates: []tls.Certificate{cc}, RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	pemPair := func() (*tls.Config, *tls.Config) {
		s, err := tlsconfig.ServerFromPEM(tlsconfig.PEM{CA: read(p.server.CAFile), Cert: read(p.server.CertFile), Key: read(p.server.KeyFile)})
		require.NoError(b, err)
		c, err := tlsconfig.ClientFromPEM(tlsconfig.PEM{CA: read(p.client.CAFile), Cert: read(p.client.CertFile), Key: read(p.client.KeyFile)})
		require.NoError(b, err)
		return s, c
	}
	files := func() (*tls.Config, *tls.Config) {
		return serverConfig(b, p.server), clientConfig(b, p.client)
	}
	for _, bc := range []struct {
		name string
		cfgs func() (*tls.Config, *tls.Config)
	}{{"stdlib", stdlib}, {"PEM", pemPair}, {"Files", files}} {
		b.Run(bc.name, func(b *testing.B) {
			s, c := bc.cfgs()
			srv := startServer(b, s)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := dial(b, srv.addr(), c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
