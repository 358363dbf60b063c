package tlsconfig

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
)

// parseCerts decodes every CERTIFICATE block in data. Other block types are
// skipped, so a combined cert+key file works; a file with no certificate at
// all is an ErrMalformedPEM naming what was found instead.
func parseCerts(data []byte, src string) ([]*x509.Certificate, error) {
	var (
		certs []*x509.Certificate
		other []string
	)
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			other = append(other, block.Type)
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: certificate %d cannot be parsed: %v", ErrMalformedPEM, src, len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if len(certs) > 0 {
		return certs, nil
	}
	if len(other) > 0 {
		return nil, fmt.Errorf("%w: %s holds %q but no CERTIFICATE block: is it a key file given where a certificate is expected (cert and key swapped)?", ErrMalformedPEM, src, other)
	}
	return nil, fmt.Errorf("%w: %s holds no PEM data (expected \"-----BEGIN CERTIFICATE-----\"; a DER file converts with `openssl x509 -inform der -out cert.pem`)", ErrMalformedPEM, src)
}

// parseKey decodes the first private key block in data (PKCS#8, SEC 1 EC or
// PKCS#1 RSA). Messages never include key bytes.
func parseKey(data []byte, src string) (crypto.Signer, error) {
	var other []string
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type == "ENCRYPTED PRIVATE KEY" || block.Headers["Proc-Type"] == "4,ENCRYPTED" {
			return nil, fmt.Errorf("%w: %s is encrypted: store it decrypted with 0600 permissions (`openssl pkey -in key.pem -out key-plain.pem`)", ErrMalformedPEM, src)
		}
		var (
			k   any
			err error
		)
		switch block.Type {
		case "PRIVATE KEY":
			k, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			k, err = x509.ParseECPrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			k, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		default:
			other = append(other, block.Type)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %s block cannot be parsed: %v", ErrMalformedPEM, src, block.Type, err)
		}
		switch k := k.(type) {
		case *ecdsa.PrivateKey:
			return k, nil
		case *rsa.PrivateKey:
			return k, nil
		case ed25519.PrivateKey:
			return k, nil
		default:
			return nil, fmt.Errorf("%w: %s: unsupported key type %T (use ECDSA, RSA or Ed25519)", ErrMalformedPEM, src, k)
		}
	}
	if len(other) > 0 {
		return nil, fmt.Errorf("%w: %s holds %q but no private key: is it a certificate given where a key is expected (cert and key swapped)?", ErrMalformedPEM, src, other)
	}
	return nil, fmt.Errorf("%w: %s holds no PEM data (expected \"-----BEGIN PRIVATE KEY-----\")", ErrMalformedPEM, src)
}

// parseKeyPair parses a certificate chain and its key and checks that the
// key belongs to the first (leaf) certificate.
func parseKeyPair(certPEM, keyPEM []byte, certSrc, keySrc string) (*tls.Certificate, error) {
	certs, err := parseCerts(certPEM, certSrc)
	if err != nil {
		return nil, err
	}
	key, err := parseKey(keyPEM, keySrc)
	if err != nil {
		return nil, err
	}
	leaf := certs[0]
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(leaf.PublicKey) {
		return nil, fmt.Errorf("%w: %s does not hold the key of %s (subject %q, serial %s): pass the key file written together with this certificate",
			ErrKeyMismatch, keySrc, certSrc, leaf.Subject.String(), leaf.SerialNumber.Text(16))
	}
	pair := &tls.Certificate{PrivateKey: key, Leaf: leaf}
	for _, c := range certs {
		pair.Certificate = append(pair.Certificate, c.Raw)
	}
	return pair, nil
}
