package tlsconfig

import "errors"

// Sentinel errors. Every error returned by this package wraps one of them
// together with the file, host or PEM field concerned and a hint on how to
// fix it, so callers can branch with errors.Is and users can read the
// message.
var (
	// ErrMissingFile: a file is not named, does not exist or cannot be read,
	// or only one of a certificate/key pair is given. The underlying
	// os error (fs.ErrNotExist, fs.ErrPermission) is wrapped as well.
	ErrMissingFile = errors.New("tlsconfig: missing or unreadable file")

	// ErrMalformedPEM: a file or PEM field holds no PEM data, PEM of the
	// wrong type (for example a key where a certificate is expected), an
	// encrypted key, or a certificate or key that cannot be parsed.
	ErrMalformedPEM = errors.New("tlsconfig: malformed PEM")

	// ErrKeyMismatch: the private key does not belong to the certificate.
	ErrKeyMismatch = errors.New("tlsconfig: private key does not match certificate")

	// ErrExpired: a certificate's NotAfter is in the past.
	ErrExpired = errors.New("tlsconfig: certificate has expired")

	// ErrNotYetValid: a certificate's NotBefore is in the future.
	ErrNotYetValid = errors.New("tlsconfig: certificate is not yet valid")

	// ErrUnknownAuthority: a certificate does not chain to the trusted CA.
	ErrUnknownAuthority = errors.New("tlsconfig: certificate not signed by the trusted CA")

	// ErrHostMismatch: a host name or IP is not among a certificate's SANs.
	ErrHostMismatch = errors.New("tlsconfig: host not in certificate")

	// ErrKeyUsage: a certificate lacks the extended key usage its role
	// needs (serverAuth for a server, clientAuth for a client).
	ErrKeyUsage = errors.New("tlsconfig: certificate not allowed for this use")

	// ErrInvalidArgument: a bad name, host or option was passed to the
	// development PKI or to an option.
	ErrInvalidArgument = errors.New("tlsconfig: invalid argument")
)
