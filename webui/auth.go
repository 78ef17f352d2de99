package webui

import "net/http"

// authRoutes registers /auth/login and /auth/logout (owned by the auth work).
func (s *Server) authRoutes() {}

// requireAuth lets a request through only with a valid session cookie or
// bearer token (owned by the auth work).
func (s *Server) requireAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusUnauthorized, "authentication required", nil)
	})
}
