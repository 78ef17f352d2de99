package repo

import "testing"

func TestSymlinkEscapes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		links  map[string]string // other links in the tree
		rel    string
		target string
		want   bool
	}{
		{name: "sibling file stays inside", rel: "p/data", target: "input.csv", want: false},
		{name: "parent of pipeline stays inside", rel: "p/shared", target: "../lib", want: false},
		{name: "absolute target escapes", rel: "p/secret", target: "/etc/shadow", want: true},
		{name: "dot-dot past the root escapes", rel: "p/up", target: "../../etc", want: true},
		{name: "deep dot-dot past the root escapes", rel: "p/a/b/up", target: "../../../../x", want: true},
		{name: "dangling inside is no escape", rel: "p/x", target: "missing/file", want: false},
		{name: "link to root then dot-dot escapes", links: map[string]string{"d": "."}, rel: "p/y", target: "../d/../x", want: true},
		{name: "chain through an inside link stays inside", links: map[string]string{"lib": "vendor/lib"}, rel: "p/l", target: "../lib/../x", want: false},
		{name: "chain ending in an absolute link escapes", links: map[string]string{"p/host": "/"}, rel: "p/z", target: "host/etc", want: true},
		{name: "cycle is refused", links: map[string]string{"a": "b", "b": "a"}, rel: "p/c", target: "../a", want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			read := func(rel string) (string, bool) {
				target, ok := tt.links[rel]
				return target, ok
			}
			if got := symlinkEscapes(tt.rel, tt.target, read); got != tt.want {
				t.Errorf("symlinkEscapes(%q, %q) = %v, want %v", tt.rel, tt.target, got, tt.want)
			}
		})
	}
}
