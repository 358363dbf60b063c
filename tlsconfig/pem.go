package tlsconfig

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"time"
)

// PEM holds the same material as Files, as PEM bytes (for secrets that
// come from an environment variable or a secret store rather than disk).
// Configurations built from PEM do not rotate.
type PEM struct {
	CA   []byte // CA certificates trusted to sign the peer's certificate
	Cert []byte // this side's certificate (chain)
	Key  []byte // the private key of Cert
}

// Validate checks p the way Files.Validate checks files. Empty fields are
// absent; Cert and Key must be both set or both empty.
func (p PEM) Validate() error {
	_, err := p.load(checks{now: time.Now()})
	wrap(&err, "validate PEM")
	return err
}

func (p PEM) load(c checks) (*bundle, error) {
	if len(p.CA) == 0 && len(p.Cert) == 0 && len(p.Key) == 0 && !c.allowEmpty {
		return nil, fmt.Errorf("%w: PEM is empty: set CA, and Cert with Key", ErrMissingFile)
	}
	if (len(p.Cert) == 0) != (len(p.Key) == 0) {
		return nil, fmt.Errorf("%w: only one of PEM.Cert and PEM.Key is set: set both or neither", ErrMissingFile)
	}
	return material{
		ca: p.CA, cert: p.Cert, key: p.Key,
		hasCA: len(p.CA) > 0, hasCert: len(p.Cert) > 0,
		caSrc: "PEM.CA", certSrc: "PEM.Cert", keySrc: "PEM.Key",
	}.load(c)
}

// ClientFromPEM is Client for PEM bytes. The certificate is fixed.
func ClientFromPEM(p PEM, opts ...Option) (_ *tls.Config, err error) {
	defer wrap(&err, "client config from PEM")
	o, err := buildOptions(opts)
	if err != nil {
		return nil, err
	}
	b, err := p.load(o.checks(true))
	if err != nil {
		return nil, err
	}
	var src certSource
	if b.pair != nil {
		if err := checkUsage(b.pair.Leaf, "PEM.Cert", x509.ExtKeyUsageClientAuth); err != nil {
			return nil, err
		}
		src = staticCert{b.pair}
	}
	return clientConfig(o, b.roots, src), nil
}

// ServerFromPEM is Server for PEM bytes. The certificate is fixed.
func ServerFromPEM(p PEM, opts ...Option) (_ *tls.Config, err error) {
	defer wrap(&err, "server config from PEM")
	o, err := buildOptions(opts)
	if err != nil {
		return nil, err
	}
	if len(p.Cert) == 0 || len(p.Key) == 0 {
		return nil, fmt.Errorf("%w: a server needs PEM.Cert and PEM.Key", ErrMissingFile)
	}
	if len(p.CA) == 0 && !o.noClientAuth {
		return nil, fmt.Errorf("%w: a server verifying client certificates needs PEM.CA (the CA that issued them): set it, or pass WithoutClientAuth()", ErrMissingFile)
	}
	b, err := p.load(o.checks(false))
	if err != nil {
		return nil, err
	}
	if err := checkUsage(b.pair.Leaf, "PEM.Cert", x509.ExtKeyUsageServerAuth); err != nil {
		return nil, err
	}
	return serverConfig(o, b.roots, staticCert{b.pair}), nil
}
