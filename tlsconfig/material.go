package tlsconfig

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"time"
)

// material is raw PEM, from files or bytes, with names for messages.
type material struct {
	ca, cert, key          []byte
	hasCA, hasCert         bool // key is present exactly when cert is
	caSrc, certSrc, keySrc string
}

// bundle is material that has been parsed and checked.
type bundle struct {
	cas   []*x509.Certificate
	roots *x509.CertPool   // nil when no CA was given
	pair  *tls.Certificate // nil when no certificate was given
	caSrc string

	certPEM, keyPEM []byte // the bytes pair was parsed from
}

// load parses and checks m the way Files.Validate documents: key matches
// certificate, certificates valid at now, leaf chains to the CA.
func (m material) load(now time.Time) (*bundle, error) {
	b := &bundle{caSrc: m.caSrc}
	if m.hasCA {
		cas, err := parseCerts(m.ca, m.caSrc)
		if err != nil {
			return nil, err
		}
		b.cas = cas
		b.roots = x509.NewCertPool()
		for _, c := range cas {
			b.roots.AddCert(c)
		}
	}
	if m.hasCert {
		pair, err := parseKeyPair(m.cert, m.key, m.certSrc, m.keySrc)
		if err != nil {
			return nil, err
		}
		b.pair, b.certPEM, b.keyPEM = pair, m.cert, m.key
	}
	if b.pair != nil {
		if err := b.checkPair(b.pair, m.certSrc, now); err != nil {
			return nil, err
		}
	}
	for _, c := range b.cas {
		if err := checkValidity(c, m.caSrc, now); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// checkPair checks a (possibly reloaded) key pair's validity window and
// that it chains to the bundle's CA, if there is one.
func (b *bundle) checkPair(pair *tls.Certificate, certSrc string, now time.Time) error {
	if err := checkValidity(pair.Leaf, certSrc, now); err != nil {
		return err
	}
	if b.roots == nil {
		return nil
	}
	chain := []*x509.Certificate{pair.Leaf}
	for _, raw := range pair.Certificate[1:] {
		c, err := x509.ParseCertificate(raw)
		if err != nil { // parsed once already; cannot happen
			return fmt.Errorf("%w: %s: %v", ErrMalformedPEM, certSrc, err)
		}
		chain = append(chain, c)
	}
	return checkChain(chain, b.roots, certSrc, b.caSrc, now)
}
