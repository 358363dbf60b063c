// Package tlsconfig builds crypto/tls configurations for etcd clients and
// servers, and provides a small development PKI to make the certificates.
//
// # Configurations
//
// Client and Server take Files (CA, certificate and key paths, the shape
// etcd's own TLS settings have); ClientFromPEM and ServerFromPEM take PEM
// bytes. Servers require and verify client certificates by default (mutual
// TLS); WithoutClientAuth relaxes that. Everything is checked before a
// configuration is returned, so a wrong file fails at start-up with a
// message naming it rather than as a handshake error later.
//
// Certificates loaded from Files rotate without a restart: the certificate
// and key are re-read at each handshake (parsed only when they changed), so
// writing a new pair over the old files is enough. A new pair is taken only
// once it passes the checks; until then the previous one keeps being served
// and the problem is logged (WithLogger). CA files are read once.
//
// # Errors
//
// Errors wrap one of the sentinels (ErrMissingFile, ErrMalformedPEM,
// ErrKeyMismatch, ErrExpired, ErrNotYetValid, ErrUnknownAuthority,
// ErrHostMismatch, ErrKeyUsage, ErrInvalidArgument), name the file, PEM
// field or host concerned and say how to fix it. Files.Validate and
// VerifyHost run the checks on their own, for instance in a CLI's
// pre-flight.
//
// # Development PKI
//
// NewCA creates a self-signed ECDSA P-256 CA in a directory; IssueServer
// (alias IssuePeer) issues member certificates valid for the given DNS
// names and IPs with both serverAuth and clientAuth, as etcd members need;
// IssueClient issues client certificates whose common name is the etcd
// user. All files are PEM with mode 0600 and are replaced atomically, so
// issuing again under the same name rotates a running configuration.
// IssueWith makes certificates with arbitrary validity windows for tests.
//
// The package does not depend on the etcd server.
package tlsconfig
