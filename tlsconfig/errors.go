package tlsconfig

import (
	"errors"
	"fmt"

	"github.com/coordkit/coordkit/internal/errs"
)

// Sentinel errors. Every error returned by this package reads
// `tlsconfig: <operation>: <sentinel>: <file, host or PEM field>: <why>[; how
// to fix]`, so callers can branch with errors.Is and users can read the
// message. ErrInvalidArgument and ErrInvalidName are the values every
// coordkit package shares.
var (
	// ErrMissingFile: a file is not named, does not exist or cannot be read,
	// or only one of a certificate/key pair is given. The underlying
	// os error (fs.ErrNotExist, fs.ErrPermission) is wrapped as well.
	ErrMissingFile = errors.New("missing or unreadable file")

	// ErrMalformedPEM: a file or PEM field holds no PEM data, PEM of the
	// wrong type (for example a key where a certificate is expected), an
	// encrypted key, or a certificate or key that cannot be parsed.
	ErrMalformedPEM = errors.New("malformed PEM")

	// ErrKeyMismatch: the private key does not belong to the certificate.
	ErrKeyMismatch = errors.New("private key does not match certificate")

	// ErrExpired: a certificate's NotAfter is in the past.
	ErrExpired = errors.New("certificate has expired")

	// ErrNotYetValid: a certificate's NotBefore is in the future.
	ErrNotYetValid = errors.New("certificate is not yet valid")

	// ErrUnknownAuthority: a certificate does not chain to the trusted CA.
	ErrUnknownAuthority = errors.New("certificate not signed by the trusted CA")

	// ErrHostMismatch: a host name or IP is not among a certificate's SANs.
	ErrHostMismatch = errors.New("host not in certificate")

	// ErrKeyUsage: a certificate lacks the extended key usage its role
	// needs (serverAuth for a server, clientAuth for a client).
	ErrKeyUsage = errors.New("certificate not allowed for this use")

	// ErrInvalidArgument: a bad host or option was passed to the
	// development PKI or to an option.
	ErrInvalidArgument = errs.InvalidArgument

	// ErrInvalidName: a certificate or CA name passed to the development PKI
	// is empty or cannot be a file base name. It also matches
	// ErrInvalidArgument.
	ErrInvalidName = errs.InvalidName
)

// wrap prefixes *err, if set, with the package and the operation (format
// and args): the one place a tlsconfig error gets its "tlsconfig: ".
func wrap(err *error, format string, args ...any) {
	if *err != nil {
		*err = fmt.Errorf("tlsconfig: %s: %w", fmt.Sprintf(format, args...), *err)
	}
}
