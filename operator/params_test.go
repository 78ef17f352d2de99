package operator

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/fastflow-dev/fastflow/schemas"
)

func TestResolveParams(t *testing.T) {
	t.Parallel()
	decl := map[string]schemas.Parameter{
		"DATE":    {Type: schemas.ParamString, Default: "today"},
		"LIMIT":   {Type: schemas.ParamInteger, Default: float64(10)},
		"RATIO":   {Type: schemas.ParamNumber},
		"DRY_RUN": {Type: schemas.ParamBoolean, Default: false},
		"MODE":    {Type: schemas.ParamString, Enum: []any{"fast", "slow"}},
		"TARGET":  {Type: schemas.ParamString, Required: true},
	}
	tests := []struct {
		name       string
		given      map[string]any
		want       map[string]string
		wantFields map[string]string
	}{
		{
			name:  "defaults fill in, JSON values render as env",
			given: map[string]any{"TARGET": "db", "RATIO": 0.5, "LIMIT": float64(3)},
			want:  map[string]string{"DATE": "today", "LIMIT": "3", "RATIO": "0.5", "DRY_RUN": "false", "TARGET": "db"},
		},
		{
			name:  "text is parsed by declared type",
			given: map[string]any{"TARGET": "db", "LIMIT": "42", "DRY_RUN": "true", "MODE": "slow"},
			want:  map[string]string{"DATE": "today", "LIMIT": "42", "DRY_RUN": "true", "MODE": "slow", "TARGET": "db"},
		},
		{
			name:       "every problem is named",
			given:      map[string]any{"LIMIT": "ten", "DRY_RUN": "maybe", "MODE": "medium", "TYPO": "x", "RATIO": true},
			wantFields: map[string]string{"LIMIT": "want integer", "DRY_RUN": "want boolean", "MODE": "want string (one of fast, slow)", "TYPO": "not a declared parameter of this pipeline", "RATIO": "want number", "TARGET": "required"},
		},
		{
			name:  "integers above 2^53 keep every digit, as JSON numbers and as text",
			given: map[string]any{"TARGET": "db", "LIMIT": json.Number("9007199254740993")},
			want:  map[string]string{"DATE": "today", "LIMIT": "9007199254740993", "DRY_RUN": "false", "TARGET": "db"},
		},
		{
			name:  "a big integer as text",
			given: map[string]any{"TARGET": "db", "LIMIT": "-9223372036854775807"},
			want:  map[string]string{"DATE": "today", "LIMIT": "-9223372036854775807", "DRY_RUN": "false", "TARGET": "db"},
		},
		{
			name:       "a fraction is not an integer",
			given:      map[string]any{"TARGET": "x", "LIMIT": 1.5},
			wantFields: map[string]string{"LIMIT": "want integer"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := resolveParams(decl, tt.given)
			if tt.wantFields != nil {
				var pe *ParamError
				if !errors.As(err, &pe) {
					t.Fatalf("err = %v, want a ParamError", err)
				}
				if diff := cmp.Diff(tt.wantFields, pe.Fields); diff != "" {
					t.Errorf("fields (-want +got):\n%s", diff)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("params (-want +got):\n%s", diff)
			}
		})
	}
}
