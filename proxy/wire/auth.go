package wire

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"

	"github.com/vtgate-lite/vtgate-lite/sqlerr"
)

// caching_sha2_password "auth more data" bytes.
const (
	sha2RequestPublicKey = 0x02
	sha2FastAuthSuccess  = 0x03
	sha2PerformFullAuth  = 0x04
)

// NativeHash returns SHA1(SHA1(password)), what mysql_native_password stores.
func NativeHash(password string) []byte {
	h1 := sha1.Sum([]byte(password))
	h2 := sha1.Sum(h1[:])
	return h2[:]
}

// ParseNativeHash parses a mysql.user-style "*HEX" (41 characters) native password hash.
func ParseNativeHash(s string) ([]byte, error) {
	if len(s) != 41 || s[0] != '*' {
		return nil, fmt.Errorf("native password hash must be '*' and 40 hex digits, got %d characters", len(s))
	}
	h, err := hex.DecodeString(s[1:])
	if err != nil {
		return nil, fmt.Errorf("native password hash: %w", err)
	}
	return h, nil
}

// newScramble returns a 20-byte nonce without NUL bytes (some clients read the second
// half of the greeting's copy as a NUL-terminated string) and without '$', as MySQL does.
func newScramble() ([]byte, error) {
	s := make([]byte, scrambleLen)
	if _, err := rand.Read(s); err != nil {
		return nil, fmt.Errorf("scramble: %w", err)
	}
	for i := range s {
		s[i] &= 0x7f
		if s[i] == 0 || s[i] == '$' {
			s[i]++
		}
	}
	return s, nil
}

// verifyNative checks a mysql_native_password response:
// resp = SHA1(pw) XOR SHA1(scramble + SHA1(SHA1(pw))), against hash2 = SHA1(SHA1(pw)).
func verifyNative(hash2, scramble, resp []byte) bool {
	if len(resp) != sha1.Size || len(hash2) != sha1.Size {
		return false
	}
	h := sha1.New()
	h.Write(scramble)
	h.Write(hash2)
	stage1 := h.Sum(nil)
	for i := range stage1 {
		stage1[i] ^= resp[i]
	}
	check := sha1.Sum(stage1)
	return subtle.ConstantTimeCompare(check[:], hash2) == 1
}

// scrambleSHA2 is the caching_sha2_password fast-auth response:
// XOR(SHA256(pw), SHA256(SHA256(SHA256(pw)) + nonce)).
func scrambleSHA2(password string, scramble []byte) []byte {
	m1 := sha256.Sum256([]byte(password))
	m2 := sha256.Sum256(m1[:])
	h := sha256.New()
	h.Write(m2[:])
	h.Write(scramble)
	m3 := h.Sum(nil)
	for i := range m3 {
		m3[i] ^= m1[i]
	}
	return m3
}

// scrambleNative is the client side of mysql_native_password (used by tests and fuzz seeds).
func scrambleNative(password string, scramble []byte) []byte {
	if password == "" {
		return nil
	}
	s1 := sha1.Sum([]byte(password))
	s2 := sha1.Sum(s1[:])
	h := sha1.New()
	h.Write(scramble)
	h.Write(s2[:])
	out := h.Sum(nil)
	for i := range out {
		out[i] ^= s1[i]
	}
	return out
}

// credentials is a user's password material in the forms auth needs.
type credentials struct {
	password string // plaintext or ""
	hash2    []byte // SHA1(SHA1(pw)); nil when the user has no password
}

func credentialsOf(u *User) credentials {
	switch {
	case u.Password != "":
		return credentials{password: u.Password, hash2: NativeHash(u.Password)}
	case len(u.NativeHash) > 0:
		return credentials{hash2: u.NativeHash}
	}
	return credentials{}
}

func (cr credentials) empty() bool { return cr.hash2 == nil }

// authRequest is what the client said in its handshake response (or COM_CHANGE_USER).
type authRequest struct {
	user     string
	resp     []byte
	plugin   string
	scramble []byte
}

// authenticate runs the authentication exchange after the client's first response and
// returns the user and the plugin that succeeded. On failure it returns the ERR to send
// (Access denied) after reporting the failure. Sequence ids continue from c's.
func (s *Server) authenticate(c *Conn, req authRequest) (*User, string, error) {
	ip := remoteIP(c.RemoteAddr)
	deny := func(usingPassword bool) (*User, string, error) {
		if s.cfg.OnAuthFailure != nil {
			s.cfg.OnAuthFailure(req.user, ip)
		}
		return nil, "", sqlerr.AccessDenied(req.user, ip, usingPassword)
	}
	u, ok := s.cfg.Users(req.user)
	if !ok || u == nil {
		return deny(len(req.resp) > 0)
	}
	cred := credentialsOf(u)
	plugin, resp := req.plugin, req.resp
	if plugin == "" {
		plugin = PluginNativePassword // pre-plugin clients (and COM_CHANGE_USER without a name) speak native
	}
	canSwitch := c.clientCaps&CapPluginAuth != 0
	switched := false
	for {
		switch {
		case plugin == PluginNativePassword && (len(resp) > 0 || cred.empty() || switched || !canSwitch):
			if cred.empty() {
				if len(resp) == 0 {
					return u, plugin, nil
				}
				return deny(true)
			}
			if verifyNative(cred.hash2, req.scramble, resp) {
				return u, plugin, nil
			}
			return deny(len(resp) > 0)

		case plugin == PluginCachingSHA2Password && (len(resp) > 0 || cred.empty()):
			if cred.empty() {
				if len(resp) == 0 {
					return u, plugin, nil
				}
				return deny(true)
			}
			if cred.password != "" {
				if subtle.ConstantTimeCompare(resp, scrambleSHA2(cred.password, req.scramble)) != 1 {
					return deny(true)
				}
				if err := c.writeAuthMore(sha2FastAuthSuccess); err != nil {
					return nil, "", err
				}
				return u, plugin, nil
			}
			ok, err := s.sha2FullAuth(c, cred, req.scramble)
			if err != nil {
				return nil, "", err
			}
			if !ok {
				return deny(true)
			}
			return u, plugin, nil

		default:
			// Another plugin, or no response although the user has a password: ask for
			// mysql_native_password with the same scramble, once.
			if switched || !canSwitch {
				return deny(len(resp) > 0)
			}
			b := append(c.wbuf[:0], headerEOF)
			b = append(b, PluginNativePassword...)
			b = append(b, 0)
			b = append(b, req.scramble...)
			b = append(b, 0)
			c.wbuf = b
			if err := c.WritePacket(b); err != nil {
				return nil, "", err
			}
			pkt, err := c.ReadPacket()
			if err != nil {
				return nil, "", err
			}
			resp = bytes.Clone(pkt)
			plugin = PluginNativePassword
			switched = true
		}
	}
}

func (c *Conn) writeAuthMore(data ...byte) error {
	b := append(c.wbuf[:0], headerAuthMore)
	b = append(b, data...)
	c.wbuf = b
	return c.WritePacket(b)
}

// sha2FullAuth is caching_sha2_password's "perform full authentication" for a user known
// only by its native hash: the client sends the password in clear over TLS, or
// RSA-OAEP(SHA1)-encrypted (password+NUL XOR scramble) otherwise, asking for the public
// key first if it has none. ok is false for a wrong password or a malformed exchange.
func (s *Server) sha2FullAuth(c *Conn, cred credentials, scramble []byte) (ok bool, err error) {
	if err := c.writeAuthMore(sha2PerformFullAuth); err != nil {
		return false, err
	}
	pkt, err := c.ReadPacket()
	if err != nil {
		return false, err
	}
	var password []byte
	if c.TLS {
		password = bytes.TrimSuffix(pkt, []byte{0})
	} else {
		if len(pkt) == 1 && pkt[0] == sha2RequestPublicKey {
			b := append(c.wbuf[:0], headerAuthMore)
			b = append(b, s.pubKeyPEM...)
			c.wbuf = b
			if err := c.WritePacket(b); err != nil {
				return false, err
			}
			if pkt, err = c.ReadPacket(); err != nil {
				return false, err
			}
		}
		if len(pkt) != s.rsaKey.Size() {
			return false, nil // clear text over an insecure transport is refused
		}
		plain, err := rsa.DecryptOAEP(sha1.New(), nil, s.rsaKey, pkt, nil)
		if err != nil || len(plain) == 0 {
			return false, nil
		}
		for i := range plain {
			plain[i] ^= scramble[i%len(scramble)]
		}
		if plain[len(plain)-1] != 0 {
			return false, nil
		}
		password = plain[:len(plain)-1]
	}
	h1 := sha1.Sum(password)
	h2 := sha1.Sum(h1[:])
	return subtle.ConstantTimeCompare(h2[:], cred.hash2) == 1, nil
}
