package webui

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/fastflow-dev/fastflow/status/secrets"
	"github.com/fastflow-dev/fastflow/status/sqlstore"
)

// TestAPISecrets: set, list (names and dates, never values), replace and
// delete through the handlers over a real vault.
func TestAPISecrets(t *testing.T) {
	t.Parallel()
	op, store := newIdleOperator(t)
	if err := store.(*sqlstore.Store).Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	key, err := secrets.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	vault, err := secrets.New(store, key)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Config{Operator: op, Store: store})
	if err != nil {
		t.Fatal(err)
	}
	const value = "s3cr3t-value"
	call := func(method, name, body string, v secretVault) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, "/api/secrets/"+name, strings.NewReader(body))
		r.SetPathValue("key", name)
		rec := httptest.NewRecorder()
		switch method {
		case "PUT":
			srv.putSecret(rec, r, v)
		case "DELETE":
			srv.deleteSecret(rec, r, v)
		default:
			srv.listSecrets(rec, r, v)
		}
		if strings.Contains(rec.Body.String(), value) {
			t.Errorf("%s %s echoed the value: %s", method, name, rec.Body)
		}
		return rec
	}
	steps := []struct {
		name, method, key, body string
		vault                   secretVault
		wantCode                int
	}{
		{"store a secret", "PUT", "API_TOKEN", `{"value": "` + value + `"}`, vault, http.StatusOK},
		{"replace it", "PUT", "API_TOKEN", `{"value": "` + value + `"}`, vault, http.StatusOK},
		{"a name that is no env var is 400", "PUT", "API-TOKEN", `{"value": "x"}`, vault, http.StatusBadRequest},
		{"an empty value is 400", "PUT", "EMPTY", `{"value": ""}`, vault, http.StatusBadRequest},
		{"no value field is 400", "PUT", "NOVALUE", `{}`, vault, http.StatusBadRequest},
		{"malformed body is 400", "PUT", "BAD", `{"value": `, vault, http.StatusBadRequest},
		{"list", "GET", "", "", vault, http.StatusOK},
		{"delete", "DELETE", "API_TOKEN", "", vault, http.StatusNoContent},
		{"delete again is 404", "DELETE", "API_TOKEN", "", vault, http.StatusNotFound},
		{"delete a malformed name is 404", "DELETE", "a/b", "", vault, http.StatusNotFound},
		{"no vault is 503", "GET", "", "", nil, http.StatusServiceUnavailable},
	}
	for _, s := range steps {
		rec := call(s.method, s.key, s.body, s.vault)
		if rec.Code != s.wantCode {
			t.Errorf("%s: %d %s, want %d", s.name, rec.Code, rec.Body, s.wantCode)
		}
		if s.name == "list" {
			var list struct {
				Items []map[string]any `json:"items"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil || len(list.Items) != 1 || list.Items[0]["name"] != "API_TOKEN" {
				t.Errorf("list %s: %v", rec.Body, err)
			}
			for k := range list.Items[0] {
				if k != "name" && k != "created_at" && k != "updated_at" {
					t.Errorf("list answers field %q", k)
				}
			}
		}
	}
}
