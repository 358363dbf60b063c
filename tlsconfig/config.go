package tlsconfig

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
)

// certSource yields this side's certificate for each handshake.
type certSource interface {
	get() (*tls.Certificate, error)
}

type staticCert struct{ c *tls.Certificate }

func (s staticCert) get() (*tls.Certificate, error) { return s.c, nil }

// Client returns a *tls.Config for connecting to a TLS server such as etcd.
//
// It trusts the certificates in f.CAFile (the system roots when CAFile is
// empty) and, when f.CertFile and f.KeyFile are set, presents that
// certificate to servers that ask for one (mutual TLS). The files are
// checked as Files.Validate does before Client returns (including that the
// certificate chains to CAFile, unless WithoutChainCheck), and the
// certificate must allow clientAuth.
//
// The certificate and key are re-read at each handshake that asks for
// them: replacing both files on disk rotates them without a restart. A
// replacement that does not pass the checks (for instance a new certificate
// whose new key has not been written yet) is reported through the logger
// and the previous pair keeps being used until a valid pair is on disk.
// The CA file is read once.
func Client(f Files, opts ...Option) (_ *tls.Config, err error) {
	defer wrap(&err, "client config")
	o, err := buildOptions(opts)
	if err != nil {
		return nil, err
	}
	b, err := f.load(o.checks(true))
	if err != nil {
		return nil, err
	}
	var src certSource
	if b.pair != nil {
		if err := checkUsage(b.pair.Leaf, fileSrc("cert", f.CertFile), x509.ExtKeyUsageClientAuth); err != nil {
			return nil, err
		}
		src = newReloader(f, b, x509.ExtKeyUsageClientAuth, o.logger)
	}
	return clientConfig(o, b.roots, src), nil
}

// Server returns a *tls.Config for a TLS server.
//
// By default it requires mutual TLS: clients must present a certificate
// that chains to f.CAFile (WithoutClientAuth relaxes this). f.CertFile and
// f.KeyFile are the server's certificate, which must allow serverAuth; the
// files are checked as Files.Validate does before Server returns (including
// that the certificate chains to CAFile, unless WithoutChainCheck). The
// certificate and key rotate as described for Client. The CA file is read
// once.
func Server(f Files, opts ...Option) (_ *tls.Config, err error) {
	defer wrap(&err, "server config")
	o, err := buildOptions(opts)
	if err != nil {
		return nil, err
	}
	if f.CertFile == "" || f.KeyFile == "" {
		return nil, fmt.Errorf("%w: a server needs CertFile and KeyFile (got %q and %q)", ErrMissingFile, f.CertFile, f.KeyFile)
	}
	if f.CAFile == "" && !o.noClientAuth {
		return nil, fmt.Errorf("%w: a server verifying client certificates needs CAFile (the CA that issued them): set it, or pass WithoutClientAuth()", ErrMissingFile)
	}
	b, err := f.load(o.checks(false))
	if err != nil {
		return nil, err
	}
	if err := checkUsage(b.pair.Leaf, fileSrc("cert", f.CertFile), x509.ExtKeyUsageServerAuth); err != nil {
		return nil, err
	}
	return serverConfig(o, b.roots, newReloader(f, b, x509.ExtKeyUsageServerAuth, o.logger)), nil
}

func clientConfig(o options, roots *x509.CertPool, src certSource) *tls.Config {
	cfg := &tls.Config{
		MinVersion: o.minVersion,
		RootCAs:    roots,
		ServerName: o.serverName,
	}
	if src != nil {
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return src.get()
		}
	}
	return cfg
}

func serverConfig(o options, roots *x509.CertPool, src certSource) *tls.Config {
	cfg := &tls.Config{
		MinVersion: o.minVersion,
		ClientCAs:  roots,
		ClientAuth: tls.RequireAndVerifyClientCert,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return src.get()
		},
	}
	if o.noClientAuth {
		cfg.ClientAuth = tls.NoClientCert
		if roots != nil {
			cfg.ClientAuth = tls.VerifyClientCertIfGiven
		}
	}
	return cfg
}
