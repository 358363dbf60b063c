package tlsconfig

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"time"
)

// IssueSpec describes a certificate for CA.IssueWith. IssueServer,
// IssuePeer and IssueClient cover the usual cases; IssueWith is for the
// rest, such as tests that need an expired certificate.
type IssueSpec struct {
	// Name is the file base name: the certificate goes to dir/<Name>.pem and
	// its key to dir/<Name>-key.pem, replacing any earlier ones (which
	// rotates them for configurations that use those files). Required; it
	// may not contain path separators or clash with the CA's own files.
	Name string
	// CommonName is the subject CN (default Name). For client certificates
	// etcd takes it as the user name.
	CommonName string
	// Hosts are the DNS names and IP addresses the certificate is valid for
	// (its SANs); IP literals become IP SANs.
	Hosts []string
	// ExtKeyUsage defaults to serverAuth and clientAuth.
	ExtKeyUsage []x509.ExtKeyUsage
	// NotBefore and NotAfter default to a minute ago and one year on
	// (capped at the CA's own expiry). Set both, possibly in the past or
	// future, to make expired or not-yet-valid certificates.
	NotBefore, NotAfter time.Time
}

// defaultHosts are the SANs of a server certificate issued without hosts.
var defaultHosts = []string{"localhost", "127.0.0.1", "::1"}

// IssueServer issues a certificate for an etcd member or any TLS server,
// valid for hosts (DNS names and IP addresses; with none, localhost,
// 127.0.0.1 and ::1). It allows both serverAuth and clientAuth, because
// etcd members present the same certificate as server and as client to
// their peers. The files are dir/<name>.pem and dir/<name>-key.pem (0600);
// the returned Files has CAFile set to the CA certificate.
func (ca *CA) IssueServer(name string, hosts ...string) (Files, error) {
	if len(hosts) == 0 {
		hosts = defaultHosts
	}
	return ca.IssueWith(IssueSpec{Name: name, Hosts: hosts})
}

// IssuePeer is IssueServer, named for certificates used between etcd
// members (--peer-cert-file).
func (ca *CA) IssuePeer(name string, hosts ...string) (Files, error) {
	return ca.IssueServer(name, hosts...)
}

// IssueClient issues a client certificate (clientAuth only) whose common
// name is user: with etcd's --client-cert-auth, the etcd user the client
// acts as. The files are dir/<user>.pem and dir/<user>-key.pem.
func (ca *CA) IssueClient(user string) (Files, error) {
	return ca.IssueWith(IssueSpec{Name: user, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
}

// IssueWith issues the certificate spec describes and writes it with a new
// ECDSA P-256 key.
func (ca *CA) IssueWith(spec IssueSpec) (_ Files, err error) {
	defer wrap(&err, "issue %q", spec.Name)
	if err := checkName(spec.Name); err != nil {
		return Files{}, err
	}
	tmpl, err := ca.template(spec)
	if err != nil {
		return Files{}, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Files{}, fmt.Errorf("generate key: %w", err)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		return Files{}, fmt.Errorf("create certificate: %w", err)
	}
	f := Files{
		CAFile:   ca.CertFile(),
		CertFile: filepath.Join(ca.dir, spec.Name+".pem"),
		KeyFile:  filepath.Join(ca.dir, spec.Name+"-key.pem"),
	}
	if err := writePair(f.CertFile, f.KeyFile, der, key); err != nil {
		return Files{}, err
	}
	return f, nil
}

func (ca *CA) template(spec IssueSpec) (*x509.Certificate, error) {
	now := time.Now()
	nb, na := spec.NotBefore, spec.NotAfter
	if nb.IsZero() {
		nb = now.Add(-clockSkew)
	}
	if na.IsZero() {
		na = now.AddDate(1, 0, 0)
		if na.After(ca.cert.NotAfter) {
			na = ca.cert.NotAfter
		}
	}
	if !na.After(nb) {
		return nil, fmt.Errorf("%w: NotAfter %s is not after NotBefore %s", ErrInvalidArgument, na.Format(timeFormat), nb.Format(timeFormat))
	}
	sn, err := newSerial()
	if err != nil {
		return nil, err
	}
	cn := spec.CommonName
	if cn == "" {
		cn = spec.Name
	}
	usage := spec.ExtKeyUsage
	if usage == nil {
		usage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	}
	tmpl := &x509.Certificate{
		SerialNumber: sn,
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    nb,
		NotAfter:     na,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  usage,
	}
	for _, h := range spec.Hosts {
		h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
		switch {
		case h == "" || strings.ContainsAny(h, " /\t\n:") && net.ParseIP(h) == nil:
			return nil, fmt.Errorf("%w: host %q is neither a DNS name nor an IP address", ErrInvalidArgument, h)
		case net.ParseIP(h) != nil:
			tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(h))
		default:
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	return tmpl, nil
}

func checkName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: a certificate needs a name (its file base name)", ErrInvalidName)
	case name == "." || name == ".." || strings.ContainsAny(name, `/\`+"\x00"):
		return fmt.Errorf("%w: %q cannot be a file base name: use letters, digits, '.', '-', '_'", ErrInvalidName, name)
	case name+".pem" == CACertFileName || name+".pem" == CAKeyFileName || name+"-key.pem" == CAKeyFileName:
		return fmt.Errorf("%w: %q would overwrite the CA's own files: choose another", ErrInvalidName, name)
	}
	return nil
}
