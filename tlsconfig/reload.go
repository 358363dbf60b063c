package tlsconfig

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"os"
	"sync"
	"time"
)

// reloader serves a certificate and key from disk, re-reading both files at
// every handshake and re-parsing them only when their bytes change. Reading
// two small files costs microseconds against the milliseconds of a
// handshake, and unlike an mtime/size cache it cannot miss a rewrite that
// lands within the file system's timestamp granularity with the same size.
//
// A changed pair is used only if it passes the checks Validate applies;
// otherwise the last good pair keeps being served and the problem is logged
// once per distinct on-disk state.
type reloader struct {
	certFile, keyFile string
	certSrc, keySrc   string
	b                 *bundle // CA to check new pairs against
	usage             x509.ExtKeyUsage
	log               *slog.Logger
	now               func() time.Time

	mu              sync.Mutex
	certPEM, keyPEM []byte // bytes of current
	current         *tls.Certificate
	badCert, badKey []byte    // bytes last rejected, so each is logged once
	badRetry        time.Time // when a not-yet-valid rejected pair may be valid
	lastReadProblem string
}

func newReloader(f Files, b *bundle, usage x509.ExtKeyUsage, log *slog.Logger) *reloader {
	r := &reloader{
		certFile: f.CertFile, keyFile: f.KeyFile,
		certSrc: fileSrc("cert", f.CertFile), keySrc: fileSrc("key", f.KeyFile),
		b: b, usage: usage, log: log, now: time.Now,
		current: b.pair, certPEM: b.certPEM, keyPEM: b.keyPEM,
	}
	return r
}

func (r *reloader) get() (*tls.Certificate, error) {
	certPEM, err := os.ReadFile(r.certFile)
	if err == nil {
		var keyPEM []byte
		keyPEM, err = os.ReadFile(r.keyFile)
		if err == nil {
			return r.update(certPEM, keyPEM), nil
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if msg := err.Error(); msg != r.lastReadProblem {
		r.lastReadProblem = msg
		r.log.Warn("tlsconfig: cannot re-read certificate for rotation; still using the previous one",
			"cert_file", r.certFile, "key_file", r.keyFile, "err", err)
	}
	return r.current, nil
}

func (r *reloader) update(certPEM, keyPEM []byte) *tls.Certificate {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lastReadProblem = ""
	if bytes.Equal(certPEM, r.certPEM) && bytes.Equal(keyPEM, r.keyPEM) {
		return r.current
	}
	now := r.now()
	if bytes.Equal(certPEM, r.badCert) && bytes.Equal(keyPEM, r.badKey) &&
		(r.badRetry.IsZero() || now.Before(r.badRetry)) {
		return r.current
	}
	pair, err := parseKeyPair(certPEM, keyPEM, r.certSrc, r.keySrc)
	if err == nil {
		err = checkUsage(pair.Leaf, r.certSrc, r.usage)
	}
	if err == nil {
		err = r.b.checkPair(pair, r.certSrc, now)
	}
	if err != nil {
		if bytes.Equal(certPEM, r.badCert) && bytes.Equal(keyPEM, r.badKey) {
			return r.current // already reported
		}
		r.badCert, r.badKey, r.badRetry = certPEM, keyPEM, time.Time{}
		if errors.Is(err, ErrNotYetValid) {
			r.badRetry = pair.Leaf.NotBefore
		}
		r.log.Warn("tlsconfig: new certificate on disk rejected; still using the previous one",
			"cert_file", r.certFile, "key_file", r.keyFile, "serving_serial", serial(r.current), "err", err)
		return r.current
	}
	r.certPEM, r.keyPEM, r.current = certPEM, keyPEM, pair
	r.badCert, r.badKey, r.badRetry = nil, nil, time.Time{}
	r.log.Info("tlsconfig: certificate reloaded",
		"cert_file", r.certFile, "subject", pair.Leaf.Subject.String(), "serial", serial(pair),
		"not_after", pair.Leaf.NotAfter)
	return pair
}

func serial(c *tls.Certificate) string {
	if c == nil || c.Leaf == nil {
		return ""
	}
	return c.Leaf.SerialNumber.Text(16)
}
