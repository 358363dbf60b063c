package tlsconfig

import (
	"fmt"
	"os"
	"time"
)

// Files names PEM files on disk: what etcd's server TLS
// (transport.TLSInfo) takes, and what Client and Server load.
//
// CAFile may hold several CA certificates. CertFile holds the leaf
// certificate first, optionally followed by intermediates; KeyFile holds its
// private key (PKCS#8, SEC 1 EC or PKCS#1 RSA, unencrypted).
type Files struct {
	CAFile   string // CA certificates trusted to sign the peer's certificate
	CertFile string // this side's certificate (chain)
	KeyFile  string // the private key of CertFile
}

// Validate checks the files as a TLS server or client would, now: each
// named file exists and is readable PEM, CertFile and KeyFile are both set
// or both empty, the key belongs to the certificate, the certificate and
// the CA are within their validity windows, and the certificate chains to
// the CA. At least one file must be named.
//
// Errors wrap ErrMissingFile, ErrMalformedPEM, ErrKeyMismatch, ErrExpired,
// ErrNotYetValid or ErrUnknownAuthority and name the file concerned.
func (f Files) Validate() error {
	_, err := f.load(checks{now: time.Now()})
	wrap(&err, "validate files")
	return err
}

// VerifyHost reports whether host (a DNS name or IP address, optionally
// with a ":port") is among the SANs of f.CertFile, so that clients dialling
// host accept the certificate. It wraps ErrHostMismatch when it is not.
// It checks the name only; use Validate for the rest.
func VerifyHost(f Files, host string) (err error) {
	defer wrap(&err, "verify host %q", host)
	if f.CertFile == "" {
		return fmt.Errorf("%w: VerifyHost needs CertFile: set it to the server certificate to check", ErrMissingFile)
	}
	src := fileSrc("cert", f.CertFile)
	data, err := readFile(f.CertFile, src)
	if err != nil {
		return err
	}
	certs, err := parseCerts(data, src)
	if err != nil {
		return err
	}
	return checkHost(certs[0], src, host)
}

func (f Files) load(c checks) (*bundle, error) {
	if f.CAFile == "" && f.CertFile == "" && f.KeyFile == "" && !c.allowEmpty {
		return nil, fmt.Errorf("%w: Files is empty: set CAFile, and CertFile with KeyFile", ErrMissingFile)
	}
	if f.CertFile == "" && f.KeyFile != "" {
		return nil, fmt.Errorf("%w: KeyFile %q is set but CertFile is empty: set both or neither", ErrMissingFile, f.KeyFile)
	}
	if f.CertFile != "" && f.KeyFile == "" {
		return nil, fmt.Errorf("%w: CertFile %q is set but KeyFile is empty: set both or neither", ErrMissingFile, f.CertFile)
	}
	m := material{
		caSrc:   fileSrc("CA", f.CAFile),
		certSrc: fileSrc("cert", f.CertFile),
		keySrc:  fileSrc("key", f.KeyFile),
	}
	var err error
	if f.CAFile != "" {
		m.hasCA = true
		if m.ca, err = readFile(f.CAFile, m.caSrc); err != nil {
			return nil, err
		}
	}
	if f.CertFile != "" {
		m.hasCert = true
		if m.cert, err = readFile(f.CertFile, m.certSrc); err != nil {
			return nil, err
		}
		if m.key, err = readFile(f.KeyFile, m.keySrc); err != nil {
			return nil, err
		}
	}
	return m.load(c)
}

func fileSrc(role, path string) string {
	return fmt.Sprintf("%s file %q", role, path)
}

// readFile reads a named file, wrapping ErrMissingFile and the os error.
func readFile(path, src string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w: check the path and that this process may read it", ErrMissingFile, src, err)
	}
	return data, nil
}
