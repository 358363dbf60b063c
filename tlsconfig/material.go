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

// checks says how material is checked.
type checks struct {
	now        time.Time
	allowEmpty bool // no file at all is fine (a client using system roots)
	skipChain  bool // the certificate need not chain to the CA
}

// bundle is material that has been parsed and checked.
type bundle struct {
	cas       []*x509.Certificate
	roots     *x509.CertPool   // nil when no CA was given
	pair      *tls.Certificate // nil when no certificate was given
	caSrc     string
	skipChain bool // pairs need not chain to roots (WithoutChainCheck)

	certPEM, keyPEM []byte // the bytes pair was parsed from
}

// load parses and checks m the way Files.Validate documents: key matches
// certificate, certificates valid at now, leaf chains to the CA.
func (m material) load(c checks) (*bundle, error) {
	now := c.now
	b := &bundle{caSrc: m.caSrc, skipChain: c.skipChain}
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
	if err := b.checkCAs(now); err != nil {
		return nil, err
	}
	return b, nil
}

func (b *bundle) checkCAs(now time.Time) error {
	for _, c := range b.cas {
		if err := checkValidity(c, b.caSrc, now); err != nil {
			return err
		}
	}
	return nil
}

// checkPair checks a (possibly reloaded) key pair's validity window and,
// if the bundle has a CA, that the CA is valid and the pair chains to it.
func (b *bundle) checkPair(pair *tls.Certificate, certSrc string, now time.Time) error {
	if err := checkValidity(pair.Leaf, certSrc, now); err != nil {
		return err
	}
	if err := b.checkCAs(now); err != nil {
		return err
	}
	if b.roots == nil || b.skipChain {
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
