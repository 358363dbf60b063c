package tlsconfig

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

// File names a CA writes in its directory.
const (
	CACertFileName = "ca.pem"
	CAKeyFileName  = "ca-key.pem"
)

// clockSkew back-dates NotBefore of generated certificates so that
// machines whose clocks lag slightly behind still accept them.
const clockSkew = time.Minute

// CA is a development certificate authority: a self-signed ECDSA P-256 CA
// whose certificate and key live as 0600 PEM files in a directory, next to
// the certificates it issues. It is meant for tests, development clusters
// and quick starts, not for production PKI. A CA is safe for concurrent use.
type CA struct {
	dir  string
	cert *x509.Certificate
	key  crypto.Signer
}

// CAOption configures NewCA.
type CAOption func(*caOptions)

type caOptions struct {
	name                string
	notBefore, notAfter time.Time
}

// WithCAName sets the CA certificate's common name (default
// "coordkit development CA <random tag>"; the tag tells CAs apart in
// error messages).
func WithCAName(name string) CAOption {
	return func(o *caOptions) { o.name = name }
}

// WithCAValidity sets the CA certificate's validity window (default: from
// a minute ago for ten years). Tests use it to make an expired CA.
func WithCAValidity(notBefore, notAfter time.Time) CAOption {
	return func(o *caOptions) { o.notBefore, o.notAfter = notBefore, notAfter }
}

// NewCA creates a new CA and writes dir/ca.pem and dir/ca-key.pem (mode
// 0600), creating dir (0700) if needed. It refuses a dir that already holds
// a ca.pem, since replacing a CA invalidates every certificate it issued:
// use LoadCA to reuse it, or remove the directory.
func NewCA(dir string, opts ...CAOption) (_ *CA, err error) {
	defer wrap(&err, "new CA in %q", dir)
	now := time.Now()
	tag, err := newSerial()
	if err != nil {
		return nil, err
	}
	o := caOptions{name: "coordkit development CA " + tag.Text(16)[:8], notBefore: now.Add(-clockSkew), notAfter: now.AddDate(10, 0, 0)}
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	if o.name == "" {
		return nil, fmt.Errorf("%w: WithCAName(\"\"): a CA needs a name", ErrInvalidName)
	}
	if !o.notAfter.After(o.notBefore) {
		return nil, fmt.Errorf("%w: WithCAValidity: notAfter %s is not after notBefore %s", ErrInvalidArgument, o.notAfter.Format(timeFormat), o.notBefore.Format(timeFormat))
	}
	if dir == "" {
		return nil, fmt.Errorf("%w: NewCA needs a directory to write its files to", ErrInvalidArgument)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	certPath := filepath.Join(dir, CACertFileName)
	if _, err := os.Stat(certPath); err == nil {
		return nil, fmt.Errorf("%w: %s already exists: use LoadCA(%q) to reuse that CA, or pass an empty directory: %w", ErrInvalidArgument, certPath, dir, fs.ErrExist)
	}

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	sn, err := newSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: o.name, Organization: []string{"coordkit development"}},
		NotBefore:             o.notBefore,
		NotAfter:              o.notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("create certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	ca := &CA{dir: dir, cert: cert, key: key}
	if err := writePair(ca.CertFile(), ca.KeyFile(), der, key); err != nil {
		return nil, err
	}
	return ca, nil
}

// LoadCA opens a CA that NewCA wrote to dir earlier.
func LoadCA(dir string) (_ *CA, err error) {
	defer wrap(&err, "load CA from %q", dir)
	f := Files{CertFile: filepath.Join(dir, CACertFileName), KeyFile: filepath.Join(dir, CAKeyFileName)}
	b, err := f.load(checks{now: time.Now()})
	if err != nil {
		return nil, err
	}
	leaf := b.pair.Leaf
	if !leaf.IsCA {
		return nil, fmt.Errorf("%w: %s (subject %q) is not a CA certificate", ErrInvalidArgument, f.CertFile, leaf.Subject.String())
	}
	key, ok := b.pair.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%w: %s: key cannot sign", ErrMalformedPEM, f.KeyFile)
	}
	return &CA{dir: dir, cert: leaf, key: key}, nil
}

// Dir returns the directory holding the CA's files and the certificates it
// issues.
func (ca *CA) Dir() string { return ca.dir }

// CertFile returns the path of the CA certificate (dir/ca.pem): the CAFile
// of every Files the CA issues, and etcd's --trusted-ca-file.
func (ca *CA) CertFile() string { return filepath.Join(ca.dir, CACertFileName) }

// KeyFile returns the path of the CA's private key (dir/ca-key.pem).
func (ca *CA) KeyFile() string { return filepath.Join(ca.dir, CAKeyFileName) }

// Certificate returns the CA certificate.
func (ca *CA) Certificate() *x509.Certificate { return ca.cert }

func newSerial() (*big.Int, error) {
	sn, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("serial number: %w", err)
	}
	return sn.Add(sn, big.NewInt(1)), nil // positive, never zero
}

// writePair writes a certificate and its key as 0600 PEM files. Each file
// is replaced atomically (temporary file and rename), so a reader sees the
// old or the new file, never a partial one.
func writePair(certPath, keyPath string, der []byte, key crypto.Signer) error {
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("marshal key: %w", err)
	}
	if err := writeFileAtomic(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})); err != nil {
		return err
	}
	return writeFileAtomic(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func writeFileAtomic(path string, data []byte) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			_ = os.Remove(tmp.Name())
		}
	}()
	// CreateTemp uses 0600 already; be explicit since it is a promise.
	if err := tmp.Chmod(0o600); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
