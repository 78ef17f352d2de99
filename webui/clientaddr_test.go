package webui

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseTrustedProxies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    []string
		wantErr string // a part of the error; "" for none
	}{
		{name: "empty trusts nobody", in: "", want: nil},
		{name: "blank entries are skipped", in: " , ,", want: nil},
		{name: "an address is itself alone", in: "127.0.0.1", want: []string{"127.0.0.1/32"}},
		{name: "addresses and prefixes mixed, spaces allowed", in: "10.0.0.5, 172.16.0.0/12 ,::1,fd00::/8",
			want: []string{"10.0.0.5/32", "172.16.0.0/12", "::1/128", "fd00::/8"}},
		{name: "host bits of a prefix are dropped", in: "192.168.1.7/24", want: []string{"192.168.1.0/24"}},
		{name: "IPv4-mapped forms are the IPv4 ones", in: "::ffff:10.0.0.1, ::ffff:10.0.0.0/104",
			want: []string{"10.0.0.1/32", "10.0.0.0/8"}},
		{name: "a bad address is named", in: "127.0.0.1, 10.0.0.300", wantErr: `entry "10.0.0.300"`},
		{name: "a bad prefix length is named", in: "10.0.0.0/33", wantErr: `entry "10.0.0.0/33"`},
		{name: "a host name is refused", in: "proxy.internal", wantErr: `entry "proxy.internal"`},
		{name: "a prefix with a zone is refused", in: "fe80::%eth0/64", wantErr: `entry "fe80::%eth0/64"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseTrustedProxies(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseTrustedProxies(%q) = %v, %v; want an error naming %s", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseTrustedProxies(%q): %v", tt.in, err)
			}
			var strs []string
			for _, p := range got {
				strs = append(strs, p.String())
			}
			if diff := cmp.Diff(tt.want, strs); diff != "" {
				t.Errorf("ParseTrustedProxies(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

// TestClientBehindProxies: which client a request counts as, and whether
// it came over https, for each way the forwarded headers can arrive.
func TestClientBehindProxies(t *testing.T) {
	t.Parallel()
	type header struct{ name, value string }
	xff := func(v string) header { return header{"X-Forwarded-For", v} }
	tests := []struct {
		name      string
		trusted   string
		remote    string
		headers   []header
		wantKey   string
		wantHTTPS bool
	}{
		{name: "no trusted proxies: a spoofed header is ignored", remote: "198.51.100.7:5000",
			headers: []header{xff("203.0.113.9"), {"X-Forwarded-Proto", "https"}}, wantKey: "198.51.100.7"},
		{name: "an untrusted peer's header is ignored", trusted: "10.0.0.0/8", remote: "198.51.100.7:5000",
			headers: []header{xff("203.0.113.9"), {"X-Forwarded-Proto", "https"}, {"Forwarded", "for=192.0.2.1;proto=https"}},
			wantKey: "198.51.100.7"},
		{name: "a trusted proxy names its client", trusted: "10.0.0.0/8", remote: "10.0.0.2:5000",
			headers: []header{xff("203.0.113.9")}, wantKey: "203.0.113.9"},
		{name: "what the client wrote left of itself is ignored", trusted: "10.0.0.2", remote: "10.0.0.2:5000",
			headers: []header{xff("1.1.1.1, 203.0.113.9")}, wantKey: "203.0.113.9"},
		{name: "a trusted address the client wrote does not help it", trusted: "10.0.0.0/8", remote: "10.0.0.2:5000",
			headers: []header{xff("10.0.0.99, 203.0.113.9")}, wantKey: "203.0.113.9"},
		{name: "a chain of trusted proxies is walked to the client", trusted: "10.0.0.0/8, 172.16.0.0/12", remote: "10.0.0.2:5000",
			headers: []header{xff("1.1.1.1, 203.0.113.9, 172.16.4.4, 10.0.0.7")}, wantKey: "203.0.113.9"},
		{name: "the walk stops at the first untrusted hop", trusted: "10.0.0.2", remote: "10.0.0.2:5000",
			headers: []header{xff("203.0.113.9, 10.0.0.7")}, wantKey: "10.0.0.7"},
		{name: "several header lines are one list", trusted: "10.0.0.0/8", remote: "10.0.0.2:5000",
			headers: []header{xff("1.1.1.1"), xff("203.0.113.9"), xff("10.0.0.7")}, wantKey: "203.0.113.9"},
		{name: "every hop trusted: the leftmost", trusted: "10.0.0.0/8", remote: "10.0.0.2:5000",
			headers: []header{xff("10.0.0.9, 10.0.0.7")}, wantKey: "10.0.0.9"},
		{name: "a trusted peer without headers is the client", trusted: "10.0.0.0/8", remote: "10.0.0.2:5000",
			wantKey: "10.0.0.2"},
		{name: "garbage from the nearest proxy: that proxy", trusted: "10.0.0.0/8", remote: "10.0.0.2:5000",
			headers: []header{xff("203.0.113.9, unknown")}, wantKey: "10.0.0.2"},
		{name: "garbage inside the chain: the proxy that wrote it", trusted: "10.0.0.0/8", remote: "10.0.0.2:5000",
			headers: []header{xff("203.0.113.9, not-an-ip, 10.0.0.7")}, wantKey: "10.0.0.7"},
		{name: "garbage left of the client is never read", trusted: "10.0.0.0/8", remote: "10.0.0.2:5000",
			headers: []header{xff("<script>, 999.1.1.1, 203.0.113.9")}, wantKey: "203.0.113.9"},
		{name: "empty list elements are skipped", trusted: "10.0.0.0/8", remote: "10.0.0.2:5000",
			headers: []header{xff(" , 203.0.113.9,,")}, wantKey: "203.0.113.9"},
		{name: "a hop with a port", trusted: "10.0.0.0/8", remote: "10.0.0.2:5000",
			headers: []header{xff("203.0.113.9:4711")}, wantKey: "203.0.113.9"},
		{name: "an IPv6 client is cut to its /64", trusted: "10.0.0.0/8", remote: "10.0.0.2:5000",
			headers: []header{xff("2001:db8:1:2::17")}, wantKey: "2001:db8:1:2::/64"},
		{name: "an IPv6 client in brackets with a port", trusted: "10.0.0.0/8", remote: "10.0.0.2:5000",
			headers: []header{xff("[2001:db8:1:2::17]:4711")}, wantKey: "2001:db8:1:2::/64"},
		{name: "an IPv6 proxy", trusted: "fd00::/8", remote: "[fd00::2]:8080",
			headers: []header{xff("203.0.113.9, fd00::9")}, wantKey: "203.0.113.9"},
		{name: "an IPv4-mapped peer matches an IPv4 prefix", trusted: "10.0.0.0/8", remote: "[::ffff:10.0.0.2]:8080",
			headers: []header{xff("203.0.113.9")}, wantKey: "203.0.113.9"},
		{name: "a unix socket peer is one client", trusted: "10.0.0.0/8", remote: "@",
			headers: []header{xff("203.0.113.9")}, wantKey: "@"},
		{name: "X-Forwarded-Proto https from a trusted proxy", trusted: "10.0.0.0/8", remote: "10.0.0.2:5000",
			headers: []header{xff("203.0.113.9"), {"X-Forwarded-Proto", "https"}}, wantKey: "203.0.113.9", wantHTTPS: true},
		{name: "X-Forwarded-Proto http", trusted: "10.0.0.0/8", remote: "10.0.0.2:5000",
			headers: []header{{"X-Forwarded-Proto", "http"}}, wantKey: "10.0.0.2"},
		{name: "X-Forwarded-Proto: the nearest proxy's value counts", trusted: "10.0.0.0/8", remote: "10.0.0.2:5000",
			headers: []header{{"X-Forwarded-Proto", "http, HTTPS"}}, wantKey: "10.0.0.2", wantHTTPS: true},
		{name: "Forwarded names the client and the scheme", trusted: "10.0.0.0/8", remote: "10.0.0.2:5000",
			headers: []header{{"Forwarded", "for=192.0.2.60;proto=https;by=203.0.113.43"}}, wantKey: "192.0.2.60", wantHTTPS: true},
		{name: "Forwarded IPv6 quoted with a port", trusted: "10.0.0.0/8", remote: "10.0.0.2:5000",
			headers: []header{{"Forwarded", `For="[2001:db8:cafe::17]:4711"`}}, wantKey: "2001:db8:cafe::/64"},
		{name: "Forwarded chain over two lines", trusted: "10.0.0.0/8", remote: "10.0.0.2:5000",
			headers: []header{{"Forwarded", "for=1.1.1.1, for=192.0.2.43"}, {"Forwarded", "for=10.0.0.7;proto=https"}},
			wantKey: "192.0.2.43", wantHTTPS: true},
		{name: "Forwarded obfuscated: the proxy", trusted: "10.0.0.0/8", remote: "10.0.0.2:5000",
			headers: []header{{"Forwarded", "for=_hidden"}}, wantKey: "10.0.0.2"},
		{name: "Forwarded unknown: the proxy", trusted: "10.0.0.0/8", remote: "10.0.0.2:5000",
			headers: []header{{"Forwarded", "for=unknown;proto=https"}}, wantKey: "10.0.0.2", wantHTTPS: true},
		{name: "Forwarded element without for=: the proxy", trusted: "10.0.0.0/8", remote: "10.0.0.2:5000",
			headers: []header{{"Forwarded", "for=192.0.2.43, proto=https"}}, wantKey: "10.0.0.2", wantHTTPS: true},
		{name: "a comma inside a quoted Forwarded value does not split it", trusted: "10.0.0.0/8", remote: "10.0.0.2:5000",
			headers: []header{{"Forwarded", `for="192.0.2.1, 192.0.2.2"`}}, wantKey: "10.0.0.2"},
		{name: "garbage Forwarded is no client", trusted: "10.0.0.0/8", remote: "10.0.0.2:5000",
			headers: []header{{"Forwarded", `;;==,"unterminated`}}, wantKey: "10.0.0.2"},
		{name: "X-Forwarded-For wins over Forwarded", trusted: "10.0.0.0/8", remote: "10.0.0.2:5000",
			headers: []header{xff("203.0.113.9"), {"Forwarded", "for=192.0.2.1;proto=https"}}, wantKey: "203.0.113.9"},
		{name: "X-Forwarded-Proto alone keeps Forwarded from being read", trusted: "10.0.0.0/8", remote: "10.0.0.2:5000",
			headers: []header{{"X-Forwarded-Proto", "http"}, {"Forwarded", "for=192.0.2.1;proto=https"}}, wantKey: "10.0.0.2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			prefixes, err := ParseTrustedProxies(tt.trusted)
			if err != nil {
				t.Fatal(err)
			}
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.remote
			for _, h := range tt.headers {
				r.Header.Add(h.name, h.value)
			}
			r = proxyTrust{prefixes: prefixes}.withForwarded(r)
			if got := clientKey(r); got != tt.wantKey {
				t.Errorf("client = %q, want %q", got, tt.wantKey)
			}
			if got := viaHTTPS(r); got != tt.wantHTTPS {
				t.Errorf("https = %v, want %v", got, tt.wantHTTPS)
			}
		})
	}
}

// TestLoginBehindProxy: through a Server, wrong passwords from clients a
// trusted proxy names are limited per client, the same requests from a
// proxy that is not trusted count as one client (the proxy), and the
// session cookie is Secure when a trusted proxy says the browser spoke
// https, and only then.
func TestLoginBehindProxy(t *testing.T) {
	t.Parallel()
	const proxy = "10.0.0.2:40000"
	newServer := func(t *testing.T, trusted string) *Server {
		t.Helper()
		f := newAuthFixture(t)
		f.addUser(t, "alice", "correct horse")
		prefixes, err := ParseTrustedProxies(trusted)
		if err != nil {
			t.Fatal(err)
		}
		srv, err := New(Config{Operator: f.op, Store: f.store, TrustedProxies: prefixes})
		if err != nil {
			t.Fatal(err)
		}
		return srv
	}
	try := func(srv *Server, user, password, forwardedFor, proto string) *httptest.ResponseRecorder {
		r := jsonLogin(user, password)
		r.RemoteAddr = proxy
		r.Header.Set("X-Forwarded-For", forwardedFor)
		if proto != "" {
			r.Header.Set("X-Forwarded-Proto", proto)
		}
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, r)
		return rec
	}
	sessionCookie := func(t *testing.T, rec *httptest.ResponseRecorder) *http.Cookie {
		t.Helper()
		if rec.Code != http.StatusOK {
			t.Fatalf("login = %d %s, want 200", rec.Code, rec.Body)
		}
		for _, c := range rec.Result().Cookies() {
			if c.Name == SessionCookie {
				return c
			}
		}
		t.Fatalf("login set no %s cookie", SessionCookie)
		return nil
	}

	t.Run("trusted proxy: limited per forwarded client", func(t *testing.T) {
		t.Parallel()
		srv := newServer(t, "10.0.0.0/8")
		for i := range loginClientFree {
			if rec := try(srv, "alice", "wrong", "203.0.113.1", ""); rec.Code != http.StatusUnauthorized {
				t.Fatalf("failure %d of 203.0.113.1 = %d %s, want 401", i+1, rec.Code, rec.Body)
			}
		}
		if rec := try(srv, "alice", "wrong", "203.0.113.1", ""); rec.Code != http.StatusTooManyRequests {
			t.Fatalf("203.0.113.1 after %d failures = %d, want 429", loginClientFree, rec.Code)
		}
		if rec := try(srv, "alice", "wrong", "203.0.113.2", ""); rec.Code != http.StatusUnauthorized {
			t.Errorf("another forwarded client = %d %s, want 401: it has failed nothing yet", rec.Code, rec.Body)
		}
		if c := sessionCookie(t, try(srv, "alice", "correct horse", "203.0.113.3", "https")); !c.Secure {
			t.Errorf("cookie %s after X-Forwarded-Proto: https from a trusted proxy: want Secure", c)
		}
		if c := sessionCookie(t, try(srv, "alice", "correct horse", "203.0.113.4", "http")); c.Secure {
			t.Errorf("cookie %s over plain http: want it not Secure", c)
		}
	})
	t.Run("untrusted proxy: every client is the proxy", func(t *testing.T) {
		t.Parallel()
		srv := newServer(t, "192.0.2.254")
		for i := range loginClientFree {
			xff := "203.0.113." + strconv.Itoa(i+1)
			if rec := try(srv, "alice", "wrong", xff, ""); rec.Code != http.StatusUnauthorized {
				t.Fatalf("failure %d (X-Forwarded-For %s) = %d %s, want 401", i+1, xff, rec.Code, rec.Body)
			}
		}
		if rec := try(srv, "alice", "wrong", "203.0.113.99", ""); rec.Code != http.StatusTooManyRequests {
			t.Errorf("a sixth X-Forwarded-For value = %d, want 429: the header is not believed, so it is the same client", rec.Code)
		}
	})
	t.Run("untrusted proxy: X-Forwarded-Proto is not believed", func(t *testing.T) {
		t.Parallel()
		srv := newServer(t, "")
		if c := sessionCookie(t, try(srv, "alice", "correct horse", "203.0.113.1", "https")); c.Secure {
			t.Errorf("cookie %s: X-Forwarded-Proto from an untrusted peer made it Secure", c)
		}
	})
}
