package coordkit

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/coordkit/coordkit/tlsconfig"
)

// This file turns a cluster's refusals of a client into typed errors that
// say what was refused and why, instead of a dial timeout: etcd's auth
// errors, and TLS handshakes that the server (or the client) refused, which
// gRPC hides behind "context deadline exceeded" while it keeps retrying.

// authRefusal classifies err as one of etcd's refusals of the client's
// identity. It returns nil when err is none.
func authRefusal(endpoints []string, user string, err error) error {
	err = rpctypes.Error(err)
	who := "without credentials"
	if user != "" {
		who = fmt.Sprintf("as user %q", user)
	}
	switch {
	case errors.Is(err, rpctypes.ErrUserEmpty):
		return fmt.Errorf("%w: %s at %v: %w: the cluster has auth enabled; set ClientConfig.Username and Password (ETCDCTL_USER), or a client certificate whose CN is an etcd user",
			ErrAuthRefused, who, endpoints, err)
	case errors.Is(err, rpctypes.ErrAuthFailed):
		return fmt.Errorf("%w: %s at %v: %w: the user does not exist or the password is wrong (etcd does not say which); check ClientConfig.Username and Password",
			ErrAuthRefused, who, endpoints, err)
	case errors.Is(err, rpctypes.ErrInvalidAuthToken), errors.Is(err, rpctypes.ErrAuthOldRevision):
		return fmt.Errorf("%w: %s at %v: %w: the cluster rejected the token; authenticate again", ErrAuthRefused, who, endpoints, err)
	}
	return nil
}

// diagnoseTLS dials the endpoints with tc and reports why a TLS handshake
// fails, or nil if one succeeds (or none is https).
func diagnoseTLS(ctx context.Context, endpoints []string, tc *tls.Config) error {
	if tc == nil {
		return nil
	}
	var first error
	for _, ep := range endpoints {
		host := hostPort(ep)
		if host == "" {
			continue
		}
		err := handshake(ctx, host, tc)
		if err == nil {
			return nil
		}
		if first == nil {
			first = fmt.Errorf("%w (TLS handshake with %s)", err, ep)
		}
	}
	return first
}

func hostPort(ep string) string {
	if strings.Contains(ep, "://") {
		u, err := url.Parse(ep)
		if err != nil || (u.Scheme != "https" && u.Scheme != "unixs") {
			return ""
		}
		return u.Host
	}
	return ep
}

// handshake completes a TLS handshake with host and waits briefly for the
// server's verdict on the client certificate: with TLS 1.3 the client's
// side of the handshake ends before the server has checked the certificate,
// and a refusal arrives as an alert on the first read.
func handshake(ctx context.Context, host string, tc *tls.Config) error {
	cfg := tc.Clone()
	cfg.NextProtos = []string{"h2"}
	if cfg.ServerName == "" {
		h, _, _ := net.SplitHostPort(host)
		cfg.ServerName = h
	}
	dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	d := tls.Dialer{Config: cfg}
	hasCert := len(cfg.Certificates) > 0 || cfg.GetClientCertificate != nil
	conn, err := d.DialContext(dctx, "tcp", host)
	if err != nil {
		return classifyTLS(err, hasCert)
	}
	defer conn.Close()
	deadline, _ := dctx.Deadline()
	_ = conn.SetDeadline(deadline)
	if _, err := conn.Write([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")); err != nil {
		return classifyTLS(err, hasCert)
	}
	var b [1]byte
	if _, err := conn.Read(b[:]); err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil // no refusal: the handshake is not the problem
		}
		return classifyTLS(err, hasCert)
	}
	return nil
}

// classifyTLS turns a handshake error into a typed refusal, or returns nil
// when it is not about TLS (the endpoint is down, say). hasCert says
// whether the client had a certificate to offer.
func classifyTLS(err error, hasCert bool) error {
	var ua x509.UnknownAuthorityError
	var ci x509.CertificateInvalidError
	var he x509.HostnameError
	s := err.Error()
	switch {
	case strings.Contains(s, "remote error: tls: certificate required") && hasCert:
		// Go's client sends no certificate that the CAs the server lists
		// do not cover, so a certificate of another CA shows up this way.
		return fmt.Errorf("%w: %w: the client certificate is not signed by a CA the server trusts, so none was sent; use a certificate issued by the cluster's client CA",
			ErrTLSRefused, tlsconfig.ErrUnknownAuthority)
	case strings.Contains(s, "remote error: tls: certificate required"):
		return fmt.Errorf("%w: %w: the server requires a client certificate and none was sent; set ClientConfig.TLS with a certificate and key (ETCDCTL_CERT, ETCDCTL_KEY) signed by the cluster's client CA",
			ErrTLSRefused, ErrClientCertificateRequired)
	case strings.Contains(s, "remote error: tls: unknown certificate authority"):
		return fmt.Errorf("%w: %w: the server does not trust the CA that signed the client certificate; use a certificate issued by the cluster's client CA",
			ErrTLSRefused, tlsconfig.ErrUnknownAuthority)
	case strings.Contains(s, "remote error: tls: expired certificate"):
		return fmt.Errorf("%w: %w: the server refused the client certificate as expired or not yet valid; renew it",
			ErrTLSRefused, tlsconfig.ErrExpired)
	case strings.Contains(s, "remote error: tls: bad certificate"):
		return fmt.Errorf("%w: the server refused the client certificate (%s); check that it is a client certificate of the cluster's CA",
			ErrTLSRefused, s)
	case errors.As(err, &ua):
		return fmt.Errorf("%w: %w: the server's certificate is not signed by the CA in ClientConfig.TLS (ETCDCTL_CACERT); use the cluster's CA",
			ErrTLSRefused, tlsconfig.ErrUnknownAuthority)
	case errors.As(err, &ci) && ci.Reason == x509.Expired:
		return fmt.Errorf("%w: %w: the server's certificate has expired or is not yet valid (%v)", ErrTLSRefused, tlsconfig.ErrExpired, ci)
	case errors.As(err, &he):
		return fmt.Errorf("%w: %w: %v; connect by a name or address in the server's certificate", ErrTLSRefused, tlsconfig.ErrHostMismatch, he)
	case strings.Contains(s, "tls: "):
		return fmt.Errorf("%w: %s", ErrTLSRefused, s)
	}
	return nil
}
