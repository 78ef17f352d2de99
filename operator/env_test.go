package operator

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

func TestCheckRequestEnv(t *testing.T) {
	t.Parallel()
	many := map[string]string{}
	for i := range maxRequestEnv + 1 {
		many["V"+strconv.Itoa(i)] = "x"
	}
	tests := []struct {
		name    string
		env     map[string]string
		allowed []string
		refused []string // field names in the error; nil: accepted
	}{
		{name: "plain names", env: map[string]string{"LOG_LEVEL": "debug", "_X1": "y", "DATE": ""}},
		{name: "invalid names", env: map[string]string{"1X": "a", "A-B": "b", "": "c", "A=B": "d"}, refused: []string{`"1X"`, `"A-B"`, `""`, `"A=B"`}},
		{name: "interpreter and loader", env: map[string]string{"LD_PRELOAD": "/tmp/x.so", "PATH": "/tmp", "PYTHONPATH": "/tmp", "PYTHONSTARTUP": "/tmp/s.py"}, refused: []string{"LD_PRELOAD", "PATH", "PYTHONPATH", "PYTHONSTARTUP"}},
		{name: "uv and pip index settings", env: map[string]string{"UV_INDEX_URL": "http://evil", "UV_FIND_LINKS": "/x", "PIP_INDEX_URL": "http://evil", "HTTPS_PROXY": "http://evil"}, refused: []string{"UV_INDEX_URL", "UV_FIND_LINKS", "PIP_INDEX_URL", "HTTPS_PROXY"}},
		{name: "allowed by pipeline.json", env: map[string]string{"PYTHONPATH": "/app/lib", "UV_INDEX_URL": "http://mirror"}, allowed: []string{"PYTHONPATH", "UV_INDEX_URL"}},
		{name: "the wrapper's own, even if allowed", env: map[string]string{"FASTFLOW_MAIN": "/tmp/evil.py"}, allowed: []string{"FASTFLOW_MAIN"}, refused: []string{"FASTFLOW_MAIN"}},
		{name: "NUL in a value", env: map[string]string{"A": "x\x00y"}, refused: []string{"A"}},
		{name: "too many", env: many, refused: []string{"env"}},
		{name: "too large", env: map[string]string{"BIG": strings.Repeat("x", maxRequestEnvBytes)}, refused: []string{"env"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := checkRequestEnv(tt.env, tt.allowed)
			if tt.refused == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var ee *EnvError
			if !errors.As(err, &ee) {
				t.Fatalf("err = %v, want an EnvError", err)
			}
			for _, f := range tt.refused {
				if ee.Fields[f] == "" {
					t.Errorf("field %s not refused: %v", f, ee.Fields)
				}
			}
			if len(ee.Fields) != len(tt.refused) {
				t.Errorf("refused %v, want exactly %v", ee.Fields, tt.refused)
			}
		})
	}
}
