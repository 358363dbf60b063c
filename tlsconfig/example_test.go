package tlsconfig_test

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coordkit/coordkit/tlsconfig"
)

// A development PKI and a mutual TLS connection between a server and a
// client configured from it.
func Example() {
	dir, err := os.MkdirTemp("", "pki")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	ca, err := tlsconfig.NewCA(dir)
	if err != nil {
		log.Fatal(err)
	}
	node, err := ca.IssueServer("node1", "localhost", "127.0.0.1")
	if err != nil {
		log.Fatal(err)
	}
	alice, err := ca.IssueClient("alice")
	if err != nil {
		log.Fatal(err)
	}

	serverCfg, err := tlsconfig.Server(node) // requires client certificates
	if err != nil {
		log.Fatal(err)
	}
	clientCfg, err := tlsconfig.Client(alice)
	if err != nil {
		log.Fatal(err)
	}

	ln, err := tls.Listen("tcp", "127.0.0.1:0", serverCfg)
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	clientName := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			clientName <- err.Error()
			return
		}
		defer c.Close()
		tc := c.(*tls.Conn)
		if err := tc.Handshake(); err != nil {
			clientName <- err.Error()
			return
		}
		clientName <- tc.ConnectionState().PeerCertificates[0].Subject.CommonName
	}()

	conn, err := tls.Dial("tcp", ln.Addr().String(), clientCfg)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	fmt.Println("client sees server", conn.ConnectionState().PeerCertificates[0].Subject.CommonName)
	fmt.Println("server sees client", <-clientName)
	// Output:
	// client sees server node1
	// server sees client alice
}

// Files for an etcd client: the CA certificate and a client certificate
// whose common name is the etcd user.
func ExampleClient() {
	files := tlsconfig.Files{CAFile: "pki/ca.pem", CertFile: "pki/alice.pem", KeyFile: "pki/alice-key.pem"}
	cfg, err := tlsconfig.Client(files)
	if err != nil {
		log.Fatal(err) // e.g. tlsconfig: missing or unreadable file: CA file "pki/ca.pem": ...
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{"https://127.0.0.1:2379"},
		TLS:         cfg,
		DialTimeout: 5 * time.Second,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer cli.Close()
}

// Validate reports problems with typed errors before anything connects.
func ExampleFiles_Validate() {
	dir, err := os.MkdirTemp("", "pki")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ca, err := tlsconfig.NewCA(dir)
	if err != nil {
		log.Fatal(err)
	}
	// A certificate that expired an hour ago.
	old, err := ca.IssueWith(tlsconfig.IssueSpec{
		Name:      "old",
		Hosts:     []string{"localhost"},
		NotBefore: time.Now().Add(-48 * time.Hour),
		NotAfter:  time.Now().Add(-time.Hour),
	})
	if err != nil {
		log.Fatal(err)
	}
	err = old.Validate()
	fmt.Println("expired:", errors.Is(err, tlsconfig.ErrExpired))

	// A client certificate used as a server certificate.
	bob, err := ca.IssueClient("bob")
	if err != nil {
		log.Fatal(err)
	}
	_, err = tlsconfig.Server(bob)
	fmt.Println("wrong usage:", errors.Is(err, tlsconfig.ErrKeyUsage))
	// Output:
	// expired: true
	// wrong usage: true
}

// VerifyHost checks that clients dialling a name will accept a server's
// certificate.
func ExampleVerifyHost() {
	dir, err := os.MkdirTemp("", "pki")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ca, err := tlsconfig.NewCA(dir)
	if err != nil {
		log.Fatal(err)
	}
	node, err := ca.IssuePeer("etcd-0", "etcd-0.example.com", "10.0.0.10")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(tlsconfig.VerifyHost(node, "10.0.0.10:2380"))
	err = tlsconfig.VerifyHost(node, "etcd-1.example.com")
	fmt.Println(errors.Is(err, tlsconfig.ErrHostMismatch))
	// Output:
	// <nil>
	// true
}
