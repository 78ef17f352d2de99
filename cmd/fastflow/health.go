package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// healthCmd is `fastflow health`: the image's HEALTHCHECK. It asks
// /healthz, which answers while the process serves, rather than /health,
// whose "degraded" (Docker away, disk low) must not make the container
// runtime restart a server that is still the best place to see what broke.
func healthCmd(ctx context.Context, args []string, stdout, stderr io.Writer, environ []string) error {
	target, timeout := "", 3*time.Second
	for i := 0; i < len(args); i++ {
		flag, value, hasValue := strings.Cut(args[i], "=")
		if !hasValue && (flag == "--url" || flag == "--timeout") {
			if i+1 == len(args) {
				return fmt.Errorf("%w: %s needs a value", errUsage, flag)
			}
			i++
			value = args[i]
		}
		switch flag {
		case "--url":
			target = value
		case "--timeout":
			d, err := time.ParseDuration(value)
			if err != nil || d <= 0 {
				return fmt.Errorf("%w: --timeout %q is not a positive duration such as 3s", errUsage, value)
			}
			timeout = d
		default:
			return fmt.Errorf("%w: unknown argument %s", errUsage, args[i])
		}
	}
	if target == "" {
		e, err := loadEnv(environ, ".env")
		if err != nil {
			return err
		}
		listen := e["LISTEN_ADDR"]
		if listen == "" {
			listen = ":8080"
		}
		target = localURL(listen)
	}
	target = strings.TrimSuffix(target, "/") + "/healthz"

	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return fmt.Errorf("%w: --url: %w", errUsage, err)
	}
	// A health check asks this host directly: never through HTTP_PROXY,
	// and never on a connection kept from an earlier check.
	client := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintf(stderr, "unhealthy: no answer within %s from %s\n", timeout, target)
		} else {
			fmt.Fprintf(stderr, "unhealthy: %v\n", err)
		}
		return exitError{1}
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
	}
	decodeErr := json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&body)
	switch {
	case resp.StatusCode != http.StatusOK:
		fmt.Fprintf(stderr, "unhealthy: %s answered %s\n", target, resp.Status)
		return exitError{1}
	case decodeErr != nil && ctx.Err() != nil:
		fmt.Fprintf(stderr, "unhealthy: no answer within %s from %s (it sent the headers only)\n", timeout, target)
		return exitError{1}
	case decodeErr != nil:
		fmt.Fprintf(stderr, "unhealthy: %s answered %s with a body that is not JSON (is something else listening there?)\n", target, resp.Status)
		return exitError{1}
	case body.Status != "ok":
		fmt.Fprintf(stderr, "unhealthy: %s answered status %q\n", target, body.Status)
		return exitError{1}
	}
	fmt.Fprintln(stdout, "ok")
	return nil
}

// localURL turns a listen address into the URL a process on the same host
// reaches it at: ":8080" and "0.0.0.0:8080" are 127.0.0.1:8080, "[::]:8080"
// is [::1]:8080.
func localURL(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "http://" + listen
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return "http://" + net.JoinHostPort(host, port)
}
