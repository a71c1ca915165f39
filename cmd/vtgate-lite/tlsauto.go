package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// TLS by default: without tls.cert, vtgate-lite makes its own CA and server certificate in
// state_dir on first start and reuses them afterwards, as MySQL 8's auto_generate_certs does
// in its data directory. Clients get TLS out of the box; those that verify the server can
// trust ca.pem.

// The generated files, named as MySQL names its own.
const (
	autoCAFile      = "ca.pem"
	autoCAKeyFile   = "ca-key.pem"
	autoCertFile    = "server-cert.pem"
	autoCertKeyFile = "server-key.pem"
)

// autoCertValidity is MySQL's: ten years.
const autoCertValidity = 10 * 365 * 24 * time.Hour

// autoCertificate returns the server certificate and key files in dir, generating a CA and a
// certificate signed by it when neither exists. A partial set (a file removed by hand) is an
// error rather than silently replaced: clients may trust the old CA.
func autoCertificate(dir string) (certFile, keyFile string, generated bool, err error) {
	files := []string{autoCAFile, autoCAKeyFile, autoCertFile, autoCertKeyFile}
	var present, missing []string
	for _, f := range files {
		_, err := os.Stat(filepath.Join(dir, f))
		switch {
		case err == nil:
			present = append(present, f)
		case errors.Is(err, fs.ErrNotExist):
			missing = append(missing, f)
		default:
			return "", "", false, fmt.Errorf("tls.auto_generate: %w", err)
		}
	}
	certFile, keyFile = filepath.Join(dir, autoCertFile), filepath.Join(dir, autoCertKeyFile)
	switch {
	case len(missing) == 0:
		return certFile, keyFile, false, nil
	case len(present) > 0:
		return "", "", false, fmt.Errorf("tls.auto_generate: %s has %s but not %s: restore or remove them all (a new CA is then generated), or configure tls.cert and tls.key",
			dir, strings.Join(present, ", "), strings.Join(missing, ", "))
	}
	if err := generateCertificates(dir); err != nil {
		return "", "", false, fmt.Errorf("tls.auto_generate: %w", err)
	}
	return certFile, keyFile, true, nil
}

// generateCertificates writes a new CA and a server certificate it signs (ECDSA P-256), valid
// for localhost, 127.0.0.1, ::1 and this host's name. The server certificate is written last:
// its presence marks a complete set.
func generateCertificates(dir string) error {
	now := time.Now().Add(-time.Hour) // tolerate clients whose clock is a little behind
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: "vtgate-lite_Auto_Generated_CA_Certificate"},
		NotBefore:             now,
		NotAfter:              now.Add(autoCertValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      pkix.Name{CommonName: "vtgate-lite_Auto_Generated_Server_Certificate"},
		NotBefore:    now,
		NotAfter:     now.Add(autoCertValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	if h, err := os.Hostname(); err == nil && h != "" && h != "localhost" {
		tmpl.DNSNames = append(tmpl.DNSNames, h)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return err
	}
	caKeyDER, err := x509.MarshalPKCS8PrivateKey(caKey)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	for _, f := range []struct {
		name, typ string
		der       []byte
		mode      os.FileMode
	}{
		{autoCAKeyFile, "PRIVATE KEY", caKeyDER, 0o600},
		{autoCAFile, "CERTIFICATE", caDER, 0o644},
		{autoCertKeyFile, "PRIVATE KEY", keyDER, 0o600},
		{autoCertFile, "CERTIFICATE", der, 0o644},
	} {
		if err := writeFileAtomic(filepath.Join(dir, f.name), pem.EncodeToMemory(&pem.Block{Type: f.typ, Bytes: f.der}), f.mode); err != nil {
			return err
		}
	}
	return nil
}

func randomSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return n.Add(n, big.NewInt(1))
}

// writeFileAtomic writes b to path with mode through a temporary file in the same directory:
// a crash leaves either no file or the whole one, never a truncated key.
func writeFileAtomic(path string, b []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // after the rename: a no-op
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// certFingerprint is the SHA-256 of a certificate's DER form, as `openssl x509 -fingerprint
// -sha256` prints it: what a client pins or compares.
func certFingerprint(cert tls.Certificate) string {
	if len(cert.Certificate) == 0 {
		return ""
	}
	sum := sha256.Sum256(cert.Certificate[0])
	s := strings.ToUpper(hex.EncodeToString(sum[:]))
	var b strings.Builder
	for i := 0; i < len(s); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(s[i : i+2])
	}
	return b.String()
}

// logCertificate names the certificate clients are offered.
func logCertificate(log *slog.Logger, cert tls.Certificate, certFile string, generated, auto bool) {
	attrs := []any{"cert", certFile, "sha256", certFingerprint(cert)}
	if leaf, err := x509.ParseCertificate(cert.Certificate[0]); err == nil {
		attrs = append(attrs, "not_after", leaf.NotAfter.UTC().Format(time.DateOnly))
	}
	switch {
	case generated:
		log.Info("client TLS: generated a CA and a server certificate in state_dir (tls.auto_generate); clients can verify the server with "+autoCAFile, attrs...)
	case auto:
		log.Info("client TLS: using the certificate generated earlier in state_dir (tls.auto_generate)", attrs...)
	default:
		log.Info("client TLS: using the configured certificate", attrs...)
	}
}
