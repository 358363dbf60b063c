package node

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

// Auth token kinds, for Config.AuthTokens.
//
// Simple tokens are random strings a member hands out and every member
// remembers in memory (the assignment goes through raft). They are cheap to
// check, but a member that restarts has forgotten them all, so every
// client of it must authenticate again (costing a bcrypt password check
// and a raft round), and a token unused for AuthTokenTTL expires.
//
// JWT tokens are signed, self-contained and stateless: any member holding
// the public key checks them, so they survive member restarts, and a
// client failing over to another member keeps its token. They expire
// AuthTokenTTL after they were issued, used or not (clients then
// authenticate again). The price is a signature check on every request
// (some tens of microseconds; see BENCHMARKS.md) and key management: every
// member must have the same key pair for tokens to be valid everywhere.
const (
	TokensSimple = "simple"
	TokensJWT    = "jwt"
)

// Names of the key files a single-member node generates for JWT tokens in
// its data directory when none are supplied, and GenerateJWTKeys writes.
const (
	JWTPrivateKeyFileName = "coordkit-jwt.key"
	JWTPublicKeyFileName  = "coordkit-jwt.pub"
)

// tokenKind is the kind of token the member issues.
func (c *Config) tokenKind() string {
	if c.AuthTokens != "" {
		return c.AuthTokens
	}
	if c.JWTPrivateKeyFile != "" || (c.multiMember() && c.Auth != nil) {
		return TokensJWT
	}
	return TokensSimple
}

func (c *Config) multiMember() bool { return len(c.InitialCluster) > 1 }

// GenerateJWTKeys writes a new Ed25519 key pair for JWT tokens into dir
// (JWTPrivateKeyFileName and JWTPublicKeyFileName, mode 0600) and returns
// their paths, for Config.JWTPrivateKeyFile and JWTPublicKeyFile. Give
// the same pair to every member of a cluster. Existing files are kept.
func GenerateJWTKeys(dir string) (privateKeyFile, publicKeyFile string, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", fmt.Errorf("node: generate JWT keys: %w", err)
	}
	priv, pub := filepath.Join(dir, JWTPrivateKeyFileName), filepath.Join(dir, JWTPublicKeyFileName)
	if err := ensureJWTKeys(priv, pub); err != nil {
		return "", "", fmt.Errorf("node: generate JWT keys in %s: %w", dir, err)
	}
	return priv, pub, nil
}

// validateTokens checks the token fields.
func (c *Config) validateTokens() error {
	switch c.AuthTokens {
	case "", TokensSimple, TokensJWT:
	default:
		return fmt.Errorf("%w: AuthTokens %q: want %q or %q", ErrInvalidArgument, c.AuthTokens, TokensJWT, TokensSimple)
	}
	if c.AuthTokenTTL < 0 || (c.AuthTokenTTL > 0 && c.AuthTokenTTL < time.Second) {
		return fmt.Errorf("%w: AuthTokenTTL %v: want at least 1s", ErrInvalidArgument, c.AuthTokenTTL)
	}
	if (c.JWTPrivateKeyFile == "") != (c.JWTPublicKeyFile == "") {
		return fmt.Errorf("%w: JWTPrivateKeyFile and JWTPublicKeyFile go together; set both or neither", ErrInvalidArgument)
	}
	if c.JWTPrivateKeyFile != "" && c.tokenKind() != TokensJWT {
		return fmt.Errorf("%w: JWT key files are set but AuthTokens is %q", ErrInvalidArgument, c.tokenKind())
	}
	if c.tokenKind() == TokensJWT && c.multiMember() && c.JWTPrivateKeyFile == "" {
		return fmt.Errorf("%w: JWT tokens in a cluster of %d members need one key pair shared by all of them (a token is checked by whichever member a request reaches): set JWTPrivateKeyFile and JWTPublicKeyFile (GenerateJWTKeys makes a pair), or AuthTokens %q",
			ErrInvalidArgument, len(c.InitialCluster), TokensSimple)
	}
	return nil
}

// configureTokens sets etcd's token options, generating a JWT key pair
// into dir when JWT tokens are used and no keys are supplied.
func configureTokens(ec *embed.Config, c *Config, dir string) error {
	ttl := c.AuthTokenTTL
	if ttl == 0 {
		ttl = 5 * time.Minute
	}
	if c.tokenKind() == TokensSimple {
		ec.AuthToken = TokensSimple
		ec.AuthTokenTTL = uint((ttl + time.Second - 1) / time.Second)
		return nil
	}
	priv, pub := c.JWTPrivateKeyFile, c.JWTPublicKeyFile
	if priv == "" {
		priv, pub = filepath.Join(dir, JWTPrivateKeyFileName), filepath.Join(dir, JWTPublicKeyFileName)
		if err := ensureJWTKeys(priv, pub); err != nil {
			return fmt.Errorf("generate JWT keys in %s: %w", dir, err)
		}
	}
	method, err := jwtSignMethod(priv)
	if err != nil {
		return err
	}
	ec.AuthToken = fmt.Sprintf("jwt,pub-key=%s,priv-key=%s,sign-method=%s,ttl=%s", pub, priv, method, ttl)
	return nil
}

// ensureJWTKeys writes an Ed25519 key pair unless both files exist.
func ensureJWTKeys(privFile, pubFile string) error {
	_, perr := os.Stat(privFile)
	_, uerr := os.Stat(pubFile)
	if perr == nil && uerr == nil {
		return nil
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return err
	}
	if err := writeFile(privFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER})); err != nil {
		return err
	}
	return writeFile(pubFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}))
}

func writeFile(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// jwtSignMethod picks etcd's sign method for the private key in file.
func jwtSignMethod(file string) (string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("%w: JWT private key: %w", ErrInvalidArgument, err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return "", fmt.Errorf("%w: JWT private key %s: no PEM data", ErrInvalidArgument, file)
	}
	var key any
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	}
	if err != nil {
		return "", fmt.Errorf("%w: JWT private key %s: %w", ErrInvalidArgument, file, err)
	}
	switch k := key.(type) {
	case ed25519.PrivateKey:
		return "EdDSA", nil
	case *rsa.PrivateKey:
		return "RS256", nil
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P256():
			return "ES256", nil
		case elliptic.P384():
			return "ES384", nil
		case elliptic.P521():
			return "ES512", nil
		}
	}
	return "", fmt.Errorf("%w: JWT private key %s: %w", ErrInvalidArgument, file, errors.ErrUnsupported)
}
