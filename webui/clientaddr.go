package webui

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Which client a request comes from, and whether it reached us over https,
// when a reverse proxy sits in front (TRUSTED_PROXIES).
//
// A proxy says who its client was in X-Forwarded-For (or RFC 7239's
// Forwarded) and which scheme it spoke in X-Forwarded-Proto. Anyone can
// send those headers, so they are believed only from a peer in the trusted
// list, and even then only as far as the chain of trusted proxies goes: the
// list is walked from the right (the hop nearest to us) and the first
// address that is not itself a trusted proxy is the client. Whatever lies
// left of it was written by that client and says nothing we could check.

// ParseTrustedProxies reads TRUSTED_PROXIES: comma-separated IP addresses
// and CIDR prefixes ("10.0.0.5, 172.16.0.0/12, ::1"). An address stands for
// itself alone, a prefix with host bits set for the network it names.
// Empty entries are skipped; an entry that is neither is an error naming
// it, so a typo cannot silently trust nobody (or everybody).
func ParseTrustedProxies(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for entry := range strings.SplitSeq(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		p, err := parseTrustedEntry(entry)
		if err != nil {
			return nil, fmt.Errorf("entry %q: %w", entry, err)
		}
		out = append(out, p)
	}
	return out, nil
}

func parseTrustedEntry(entry string) (netip.Prefix, error) {
	if strings.Contains(entry, "/") {
		p, err := netip.ParsePrefix(entry)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("want a CIDR prefix such as 10.0.0.0/8 or fd00::/8: %w", err)
		}
		return netip.PrefixFrom(p.Addr().Unmap(), unmappedBits(p)).Masked(), nil
	}
	a, err := netip.ParseAddr(entry)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("want an IP address such as 10.0.0.5 or a CIDR prefix such as 10.0.0.0/8: %w", err)
	}
	a = a.Unmap().WithZone("")
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// unmappedBits is the length of p once an IPv4-mapped address is unmapped
// (::ffff:10.0.0.0/104 is 10.0.0.0/8), so peers, which are unmapped too,
// match it.
func unmappedBits(p netip.Prefix) int {
	if p.Addr().Is4In6() {
		return max(0, p.Bits()-96)
	}
	return p.Bits()
}

// proxyTrust is the trusted proxies of a Server; the zero value trusts
// none, and then no forwarded header is ever read.
type proxyTrust struct {
	prefixes []netip.Prefix
}

func (p proxyTrust) trusts(a netip.Addr) bool {
	for _, pre := range p.prefixes {
		if pre.Contains(a) {
			return true
		}
	}
	return false
}

// forwarded is what a request says about its client once the forwarded
// headers it may be believed on are read.
type forwarded struct {
	// client is the client's address; invalid when the peer's address is
	// not an IP (a unix socket), and then clientKey uses RemoteAddr.
	client netip.Addr
	// https: a trusted proxy says the client spoke https to it.
	https bool
}

type forwardedKey struct{}

// withForwarded puts what r's headers say about its client, as far as they
// are believed, into its context. With no trusted proxies it returns r as
// it is: the peer is the client, as clientFrom finds without help.
func (p proxyTrust) withForwarded(r *http.Request) *http.Request {
	if len(p.prefixes) == 0 {
		return r
	}
	peer, ok := peerAddr(r)
	if !ok || !p.trusts(peer) {
		return r
	}
	f := forwarded{client: p.pick(peer, forwardedFor(r.Header)), https: forwardedHTTPS(r.Header)}
	return r.WithContext(context.WithValue(r.Context(), forwardedKey{}, f))
}

// clientFrom is r's client: the one a trusted proxy named (withForwarded),
// else the peer. ok is false for a peer that is not an IP address.
func clientFrom(r *http.Request) (netip.Addr, bool) {
	if f, ok := r.Context().Value(forwardedKey{}).(forwarded); ok && f.client.IsValid() {
		return f.client, true
	}
	return peerAddr(r)
}

// viaHTTPS reports whether the client spoke https: to us, or to a trusted
// proxy that said so.
func viaHTTPS(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	f, _ := r.Context().Value(forwardedKey{}).(forwarded)
	return f.https
}

// peerAddr is the address of the connection's other end.
func peerAddr(r *http.Request) (netip.Addr, bool) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap().WithZone(""), true
}

// pick walks hops (the client side first, as proxies append) from the
// right, starting at the trusted peer, and returns the first address that
// is not a trusted proxy. An entry that is not an address ("unknown", an
// obfuscated RFC 7239 name, junk) ends the walk at the proxy that wrote
// it: its client cannot be told apart, and the proxy's own address is the
// one identity nobody behind it can choose. A chain of trusted proxies
// only ends at the leftmost of them.
func (p proxyTrust) pick(peer netip.Addr, hops []string) netip.Addr {
	last := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := parseNode(hops[i])
		if !ok {
			return last
		}
		if !p.trusts(a) {
			return a
		}
		last = a
	}
	return last
}

// forwardedFor is the hop list of X-Forwarded-For, every header line of it
// in order, or with Forwarded (see usesForwarded) that of its for=
// parameters.
func forwardedFor(h http.Header) []string {
	var hops []string
	if usesForwarded(h) {
		for _, el := range forwardedElements(h) {
			// An element without for= still marks a hop; "" is not an
			// address, so the walk stops there as at any other junk.
			hops = append(hops, el["for"])
		}
		return hops
	}
	for _, line := range h.Values("X-Forwarded-For") {
		for hop := range strings.SplitSeq(line, ",") {
			if hop = strings.TrimSpace(hop); hop != "" {
				hops = append(hops, hop)
			}
		}
	}
	return hops
}

// forwardedHTTPS reads the scheme the nearest proxy names: the last value
// of X-Forwarded-Proto, or the proto= of Forwarded's last element. Only the
// nearest is read because it is the trusted one; a wrong answer costs
// little either way (it decides the cookies' Secure flag, which
// BASE_URL=https sets anyway).
func forwardedHTTPS(h http.Header) bool {
	if usesForwarded(h) {
		els := forwardedElements(h)
		return len(els) > 0 && strings.EqualFold(els[len(els)-1]["proto"], "https")
	}
	vals := h.Values("X-Forwarded-Proto")
	if len(vals) == 0 {
		return false
	}
	line := vals[len(vals)-1]
	if i := strings.LastIndexByte(line, ','); i >= 0 {
		line = line[i+1:]
	}
	return strings.EqualFold(strings.TrimSpace(line), "https")
}

// usesForwarded reports whether r's proxy speaks RFC 7239 Forwarded rather
// than X-Forwarded-*: only when no X-Forwarded-For or X-Forwarded-Proto is
// there. The two families are never mixed: a proxy writes one of them, and
// the other one, if present, came from the client. X-Forwarded-* wins
// because that is what nginx, Traefik, HAProxy and Caddy write; a proxy
// that writes only Forwarded must drop a client's X-Forwarded-For.
func usesForwarded(h http.Header) bool {
	return len(h.Values("X-Forwarded-For")) == 0 && len(h.Values("X-Forwarded-Proto")) == 0 && len(h.Values("Forwarded")) > 0
}

// forwardedElements parses RFC 7239 Forwarded headers into one map of
// lower-cased parameter names to values per element (per hop), quotes
// removed. It is lenient: a malformed pair is dropped, not the element,
// and commas or semicolons inside a quoted value do not split it.
func forwardedElements(h http.Header) []map[string]string {
	var out []map[string]string
	for _, line := range h.Values("Forwarded") {
		for _, el := range splitQuoted(line, ',') {
			if strings.TrimSpace(el) == "" {
				continue
			}
			m := map[string]string{}
			for _, pair := range splitQuoted(el, ';') {
				k, v, ok := strings.Cut(pair, "=")
				if !ok {
					continue
				}
				m[strings.ToLower(strings.TrimSpace(k))] = unquote(strings.TrimSpace(v))
			}
			out = append(out, m)
		}
	}
	return out
}

// splitQuoted splits s at sep where sep is not inside a quoted string.
func splitQuoted(s string, sep byte) []string {
	var parts []string
	start, quoted := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && quoted:
			i++ // the escaped character is part of the value
		case c == '"':
			quoted = !quoted
		case c == sep && !quoted:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

// unquote removes the quotes of an RFC 9110 quoted string and its
// backslash escapes; a token is returned as it is.
func unquote(v string) string {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return v
	}
	v = v[1 : len(v)-1]
	if !strings.Contains(v, `\`) {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' && i+1 < len(v) {
			i++
		}
		b.WriteByte(v[i])
	}
	return b.String()
}

// parseNode reads one hop: an address, with or without a port, IPv6 with
// or without brackets ("192.0.2.1", "192.0.2.1:443", "2001:db8::1",
// "[2001:db8::1]:443").
func parseNode(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().WithZone(""), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone(""), true
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		if a, err := netip.ParseAddr(s[1 : len(s)-1]); err == nil {
			return a.Unmap().WithZone(""), true
		}
	}
	// RFC 7239 allows a port on its own ("[2001:db8::1]:_hidden"); the
	// address is still the address.
	if host, _, err := net.SplitHostPort(s); err == nil {
		if a, err := netip.ParseAddr(host); err == nil {
			return a.Unmap().WithZone(""), true
		}
	}
	return netip.Addr{}, false
}
