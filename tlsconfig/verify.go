package tlsconfig

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"
)

const timeFormat = time.RFC3339

// checkValidity reports ErrExpired or ErrNotYetValid for a certificate
// outside its validity window at now.
func checkValidity(c *x509.Certificate, src string, now time.Time) error {
	if now.Before(c.NotBefore) {
		return fmt.Errorf("%w: %s (subject %q) is valid from %s, it is now %s: check the clock on this machine and on the issuing one, or wait",
			ErrNotYetValid, src, c.Subject.String(), c.NotBefore.UTC().Format(timeFormat), now.UTC().Format(timeFormat))
	}
	if now.After(c.NotAfter) {
		return fmt.Errorf("%w: %s (subject %q) expired at %s, it is now %s: issue a new certificate and replace the file",
			ErrExpired, src, c.Subject.String(), c.NotAfter.UTC().Format(timeFormat), now.UTC().Format(timeFormat))
	}
	return nil
}

// checkChain verifies that leaf (with the intermediates that followed it in
// its file) chains to one of the CA certificates.
func checkChain(chain []*x509.Certificate, roots *x509.CertPool, certSrc, caSrc string, now time.Time) error {
	leaf := chain[0]
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	_, err := leaf.Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: inter,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err == nil {
		return nil
	}
	var invalid x509.CertificateInvalidError
	if errors.As(err, &invalid) && invalid.Reason == x509.Expired && invalid.Cert != nil {
		// An intermediate outside its window.
		return checkValidity(invalid.Cert, certSrc+" chain", now)
	}
	return fmt.Errorf("%w: %s (subject %q, issuer %q) does not chain to %s: issue it from that CA, point the CA file at the CA that issued it, or, if the peer really trusts another CA, pass WithoutChainCheck() (%w)",
		ErrUnknownAuthority, certSrc, leaf.Subject.String(), leaf.Issuer.String(), caSrc, err)
}

// checkUsage reports ErrKeyUsage when c may not be used for want. A
// certificate with no extended key usage may be used for anything.
func checkUsage(c *x509.Certificate, src string, want x509.ExtKeyUsage) error {
	if len(c.ExtKeyUsage) == 0 || slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageAny) || slices.Contains(c.ExtKeyUsage, want) {
		return nil
	}
	role, fix := "server", "IssueServer or IssuePeer"
	if want == x509.ExtKeyUsageClientAuth {
		role, fix = "client", "IssueClient, IssueServer or IssuePeer"
	}
	return fmt.Errorf("%w: %s (subject %q) lacks the %s extended key usage needed to act as a TLS %s: issue one with it (the dev PKI's %s does)",
		ErrKeyUsage, src, c.Subject.String(), usageName(want), role, fix)
}

func usageName(u x509.ExtKeyUsage) string {
	switch u {
	case x509.ExtKeyUsageServerAuth:
		return "serverAuth"
	case x509.ExtKeyUsageClientAuth:
		return "clientAuth"
	}
	return fmt.Sprint(u)
}

// checkHost reports ErrHostMismatch unless host (a DNS name or IP,
// optionally with a port) is among c's SANs.
func checkHost(c *x509.Certificate, src, host string) error {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if host == "" {
		return fmt.Errorf("%w: empty host to verify %s against", ErrInvalidArgument, src)
	}
	if err := c.VerifyHostname(host); err != nil {
		return fmt.Errorf("%w: %s is for %s, not %q: reissue it with %q among its hosts, or connect using one of the names it has",
			ErrHostMismatch, src, sanList(c), host, host)
	}
	return nil
}

func sanList(c *x509.Certificate) string {
	names := slices.Clone(c.DNSNames)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 {
		return "no hosts (no DNS or IP SANs)"
	}
	return "[" + strings.Join(names, " ") + "]"
}
