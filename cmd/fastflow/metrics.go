package main

import (
	"net/http"
	"time"
)

// metricsServer serves only GET /metrics, without authentication, for
// METRICS_LISTEN_ADDR: an address on a private interface that only the
// Prometheus server reaches. Everything else there is 404.
func metricsServer(h http.Handler) *http.Server {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	return &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
	}
}
