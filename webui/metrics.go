package webui

import "net/http"

// metricsRoutes registers GET /metrics when a handler is configured. It is
// never public: Prometheus scrapes it with an API token as its bearer
// credential (authorization.credentials in a scrape config). A metrics
// listener of its own, without authentication, is cmd/fastflow's business.
func (s *Server) metricsRoutes() {
	if s.cfg.Metrics == nil {
		return
	}
	s.handle("GET", "/metrics", false, s.cfg.Metrics.ServeHTTP)
}

// observeWebhook tells OnWebhook the status code h answered with.
func (s *Server) observeWebhook(h http.HandlerFunc) http.HandlerFunc {
	on := s.cfg.OnWebhook
	if on == nil {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		h(sw, r)
		if sw.code == 0 {
			sw.code = http.StatusOK
		}
		on(sw.code)
	}
}

// statusWriter remembers the first status code written through it.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's deadlines.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
