package backendaddr

import (
	"crypto/tls"
	"testing"
)

func TestTLS(t *testing.T) {
	base := &tls.Config{MinVersion: tls.VersionTLS12}
	if got := TLS(nil, "db1:3306"); got != nil {
		t.Errorf("nil config: %v", got)
	}
	if got := TLS(base, "/run/mysqld/mysqld.sock"); got != nil {
		t.Errorf("unix socket: TLS %v, want none", got)
	}
	got := TLS(base, "db1.example:3306")
	if got == nil || got.ServerName != "db1.example" || got == base || base.ServerName != "" {
		t.Errorf("tcp: %+v (base %+v)", got, base)
	}
	skip := &tls.Config{InsecureSkipVerify: true}
	if got := TLS(skip, "db1:3306"); got != skip {
		t.Errorf("skip_verify: a copy was made")
	}
}

func TestHostPort(t *testing.T) {
	for _, c := range []struct {
		addr string
		host string
		port uint16
		ok   bool
	}{
		{"127.0.0.1:17100", "127.0.0.1", 17100, true},
		{"[::1]:3306", "::1", 3306, true},
		{"/tmp/mdb.sock", "/tmp/mdb.sock", 0, true},
		{"db1", "", 0, false},
		{"db1:99999", "", 0, false},
	} {
		h, p, err := HostPort(c.addr)
		if (err == nil) != c.ok || h != c.host || p != c.port {
			t.Errorf("HostPort(%q) = %q, %d, %v", c.addr, h, p, err)
		}
	}
}
