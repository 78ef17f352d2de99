package sqlstore_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/fastflow-dev/fastflow/status/sqlstore"
	"github.com/fastflow-dev/fastflow/status/storetest"
)

// TestSyncSignals: on PostgreSQL a signal from one store reaches the
// listeners of every store on the database, the sender's included, in
// order; on SQLite signalling is a no-op and listening ends with ctx.
func TestSyncSignals(t *testing.T) {
	t.Parallel()
	url := storetest.Postgres(t)
	a := open(t, sqlstore.Config{DatabaseURL: url})
	b := open(t, sqlstore.Config{DatabaseURL: url})
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	heard := map[string]chan string{"a": make(chan string, 10), "b": make(chan string, 10)}
	for name, s := range map[string]*sqlstore.Store{"a": a, "b": b} {
		wg.Go(func() {
			if err := s.ListenSync(ctx, func(rev string) { heard[name] <- rev }); err != nil {
				t.Errorf("ListenSync %s: %v", name, err)
			}
		})
	}
	// LISTEN takes effect once its connection is up: signal until the
	// first one is heard, then in earnest.
	deadline := time.Now().Add(20 * time.Second)
	for len(heard["a"]) == 0 || len(heard["b"]) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no signal heard within 20 s")
		}
		if err := b.SignalSync(t.Context(), "warm-up"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	drain := func(c chan string) {
		for {
			select {
			case <-c:
			case <-time.After(300 * time.Millisecond):
				return
			}
		}
	}
	drain(heard["a"])
	drain(heard["b"])
	for _, rev := range []string{"0123abcd", ""} {
		if err := b.SignalSync(t.Context(), rev); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"a", "b"} {
		for _, want := range []string{"0123abcd", ""} {
			select {
			case got := <-heard[name]:
				if got != want {
					t.Errorf("%s heard %q, want %q", name, got, want)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("%s did not hear %q", name, want)
			}
		}
	}

	lite := openSQLite(t, sqlstore.Config{})
	if err := lite.SignalSync(t.Context(), "x"); err != nil {
		t.Errorf("SQLite SignalSync: %v", err)
	}
	lctx, lcancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer lcancel()
	if err := lite.ListenSync(lctx, func(string) { t.Error("SQLite heard a signal") }); err != nil {
		t.Errorf("SQLite ListenSync: %v", err)
	}
}
