package kubernetes_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/fastflow-dev/fastflow/runtime"
	"github.com/fastflow-dev/fastflow/runtime/kubernetes"
)

// flakyServer answers the first fail requests with 503 and the rest with
// an empty JobList; it counts the requests by method.
func flakyServer(t *testing.T, fail int32) (*httptest.Server, *atomic.Int32, *atomic.Int32) {
	var gets, posts atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n int32
		if r.Method == http.MethodPost {
			n = posts.Add(1)
		} else {
			n = gets.Add(1)
		}
		w.Header().Set("Content-Type", "application/json")
		if n <= fail {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"ServiceUnavailable","code":503}`))
			return
		}
		_, _ = w.Write([]byte(`{"kind":"JobList","apiVersion":"batch/v1","metadata":{},"items":[]}`))
	}))
	t.Cleanup(srv.Close)
	return srv, &gets, &posts
}

func offlineClient(t *testing.T, host string) *kubernetes.Client {
	t.Helper()
	c, err := kubernetes.New(kubernetes.Config{REST: &rest.Config{Host: host}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRetries(t *testing.T) {
	tests := []struct {
		name     string
		fail     int32
		wantErr  bool
		wantGets int32
	}{
		{"passing trouble", 2, false, 3},
		{"down for good", 100, true, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, gets, _ := flakyServer(t, tt.fail)
			c := offlineClient(t, srv.URL)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := c.List(ctx, map[string]string{"fastflow-test": "1"})
			if (err != nil) != tt.wantErr || gets.Load() != tt.wantGets {
				t.Errorf("List = %v after %d requests; want error %v after %d", err, gets.Load(), tt.wantErr, tt.wantGets)
			}
			if tt.wantErr && !errors.Is(err, runtime.ErrUnavailable) {
				t.Errorf("List = %v, want ErrUnavailable", err)
			}
		})
	}
}

// TestCreateIsNotRepeated: a create that failed may have been made, so it
// is not sent again.
func TestCreateIsNotRepeated(t *testing.T) {
	srv, _, posts := flakyServer(t, 100)
	c := offlineClient(t, srv.URL)
	spec := newSpec(t, "true")
	if _, err := c.Start(context.Background(), spec); err == nil || posts.Load() != 1 {
		t.Errorf("Start = %v after %d creates; want an error after 1", err, posts.Load())
	}
}

func TestUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	c := offlineClient(t, "http://"+addr)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for name, err := range map[string]error{
		"Ping": c.Ping(ctx),
		"List": func() error { _, err := c.List(ctx, nil); return err }(),
		"Wait": func() error { _, err := c.Wait(ctx, "fastflow-x"); return err }(),
	} {
		if !errors.Is(err, runtime.ErrUnavailable) || !errors.Is(err, kubernetes.ErrAPIUnreachable) {
			t.Errorf("%s = %v, want ErrAPIUnreachable", name, err)
		}
	}
}

// TestListOfLabelsNoJobCarries: labels Start would refuse match nothing,
// without asking the server (which would refuse the selector).
func TestListOfLabelsNoJobCarries(t *testing.T) {
	srv, gets, _ := flakyServer(t, 0)
	c := offlineClient(t, srv.URL)
	for _, want := range []map[string]string{
		{runtime.LabelRevision: "main@sha1:0123"},
		{"bad key": "v"},
	} {
		found, err := c.List(context.Background(), want)
		if err != nil || len(found) != 0 {
			t.Errorf("List(%v) = %v, %v; want none", want, found, err)
		}
	}
	if n := gets.Load(); n != 0 {
		t.Errorf("%d requests, want none", n)
	}
}
