package logs

import (
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
)

func TestMask(t *testing.T) {
	t.Parallel()
	const secret = "s3cr3t/p@ss+word=?&"
	const uni = `päss"wörd<>😀`
	const pem = "-----BEGIN KEY-----\nMIIBVwIBADANBgkqhkiG\r\nw0BAQEFAASCAUEwggE9\n-----END KEY-----\n"
	blob := func(prefix string) string {
		return base64.StdEncoding.EncodeToString([]byte(prefix + secret + "tail-bytes"))
	}
	jsonOf := func(s string) string {
		b, _ := json.Marshal(s)
		return string(b)
	}
	tests := []struct {
		name    string
		secrets []string
		in      string
		want    string
	}{
		{"plain value", []string{secret}, "pw=" + secret + " ok", "pw=*** ok"},
		{"every occurrence", []string{secret}, secret + secret + " " + secret, "*** ***"},
		{"std base64 padded", []string{"abcd"}, "x " + base64.StdEncoding.EncodeToString([]byte("abcd")) + " y", "x *** y"},
		{"std base64 raw", []string{secret}, "x " + base64.RawStdEncoding.EncodeToString([]byte(secret)) + " y", "x *** y"},
		{"url base64 padded", []string{secret}, "x " + base64.URLEncoding.EncodeToString([]byte(secret)) + " y", "x *** y"},
		{"url base64 raw", []string{secret}, "x " + base64.RawURLEncoding.EncodeToString([]byte(secret)) + " y", "x *** y"},
		{"basic auth header", []string{"hunter22"}, "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("admin:hunter22")), "Authorization: Basic YWRtaW46***"},
		{"query escaped", []string{secret}, "GET /?pw=" + url.QueryEscape(secret) + "&x=1", "GET /?pw=***&x=1"},
		{"path escaped", []string{secret}, "GET /u/" + url.PathEscape(secret) + "/x", "GET /u/***/x"},
		{"json escaped html", []string{uni}, `{"pw":` + jsonOf(uni) + `}`, `{"pw":"***"}`},
		{"json escaped no html", []string{uni}, `{"pw":"pässs"}` + `{"pw":"` + jsonBody(uni, false) + `"}`, `{"pw":"pässs"}{"pw":"***"}`},
		{"python json ascii", []string{uni}, `{"pw": "p\u00e4ss\"w\u00f6rd<>\ud83d\ude00"}`, `{"pw": "***"}`},
		{"multi-line secret line by line", []string{pem}, "key line MIIBVwIBADANBgkqhkiG and w0BAQEFAASCAUEwggE9", "key line *** and ***"},
		{"multi-line secret json escaped whole", []string{pem}, `"key":` + jsonOf(pem), `"key":"***"`},
		{"overlapping secrets merge", []string{"abcdef", "defghi"}, "x abcdefghi y", "x *** y"},
		{"adjacent secrets merge", []string{"abcd", "efgh"}, "abcdefgh", "***"},
		{"nested secret, longest wins", []string{"password", "pass123password99"}, "a pass123password99 b password c", "a *** b *** c"},
		{"short secrets ignored", []string{"abc", "", "x"}, "abc x abc", "abc x abc"},
		{"four bytes masked", []string{"abcd"}, "xxabcdxx", "xx***xx"},
		{"no match left alone", []string{secret}, "nothing to see here", "nothing to see here"},
		{"partial secret not masked", []string{secret}, "s3cr3t/p@ss", "s3cr3t/p@ss"},
		{"empty line", []string{secret}, "", ""},
		{"secret at the end", []string{"abcd"}, "zzabcd", "zz***"},
	}
	for k := range 3 {
		prefix := strings.Repeat("P", k+3) // offsets 0, 1, 2 within a base64 group
		in := blob(prefix)
		got := NewMasker([]string{secret}).Mask(in)
		tests = append(tests, struct {
			name    string
			secrets []string
			in      string
			want    string
		}{"inside larger base64 blob, alignment " + prefix, []string{secret}, in, got})
		if !strings.Contains(got, Mask) {
			t.Errorf("alignment %d: %q not masked in %q", k, secret, in)
		}
		// The masked output must not decode to anything containing the
		// secret's middle bytes: check that the stable middle is gone.
		mid := base64.RawStdEncoding.EncodeToString([]byte(secret[3:15]))
		if strings.Contains(got, mid) {
			t.Errorf("alignment %d: %q still has %q", k, got, mid)
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := NewMasker(tt.secrets).Mask(tt.in); got != tt.want {
				t.Errorf("Mask(%q)\n got %q\nwant %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestMaskNilAndEmpty(t *testing.T) {
	t.Parallel()
	var m *Masker
	if got := m.Mask("abcd"); got != "abcd" {
		t.Errorf("nil masker changed the line: %q", got)
	}
	if n := NewMasker(nil).Patterns(); n != 0 {
		t.Errorf("no secrets gave %d patterns", n)
	}
}

func TestMaskNoAllocWithoutMatch(t *testing.T) {
	m := NewMasker(benchSecrets)
	line := benchLine
	if allocs := testing.AllocsPerRun(100, func() { _ = m.Mask(line) }); allocs != 0 {
		t.Errorf("Mask allocated %v times on a line without secrets", allocs)
	}
}

var benchSecrets = []string{
	"ghp_16C7e42F292c6912E7710c838347Ae178B4a",
	"postgres://app:Sup3rS3cret!@db:5432/app",
	"AKIAIOSFODNN7EXAMPLE",
	"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
	"hunter2hunter2",
}

const benchLine = "2026-11-27 05:00:01,123 INFO etl.load: loaded 18734 rows into warehouse.orders in 2.31s (batch 17/40, retries 0)"

func BenchmarkMask(b *testing.B) {
	m := NewMasker(benchSecrets)
	withSecret := "connecting with token=" + benchSecrets[0] + " to " + benchLine
	for _, bc := range []struct{ name, line string }{
		{"clean", benchLine},
		{"secret", withSecret},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(bc.line)))
			b.ReportAllocs()
			for b.Loop() {
				_ = m.Mask(bc.line)
			}
		})
	}
}

// BenchmarkMaskReplacer is the baseline: strings.Replacer over the same
// forms. It is what the Masker must not be much slower than; it cannot
// merge overlapping secrets.
func BenchmarkMaskReplacer(b *testing.B) {
	var args []string
	for _, s := range benchSecrets {
		for _, v := range variants(s) {
			args = append(args, v, Mask)
		}
	}
	r := strings.NewReplacer(args...)
	b.SetBytes(int64(len(benchLine)))
	b.ReportAllocs()
	for b.Loop() {
		_ = r.Replace(benchLine)
	}
}
