package webui

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The tests in this file talk to real sockets, as a hostile client would:
// raw net.Conns that send headers and then a body slowly or not at all,
// or never read the answer.

// serveOn serves h with the server's connection settings of t on a
// loopback listener and returns its address; it is shut down when the
// test ends.
func serveOn(t *testing.T, h http.Handler, tm Timeouts) string {
	t.Helper()
	tm.setDefaults()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: tm.ReadHeader, IdleTimeout: tm.Idle, MaxHeaderBytes: maxHeaderBytes}
	go hs.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		if hs.Shutdown(ctx) != nil {
			hs.Close()
		}
	})
	return ln.Addr().String()
}

// dialFrom connects to addr from the loopback address src (Linux routes
// all of 127/8 to lo), so tests can be several clients.
func dialFrom(t testing.TB, src, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, src, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// webhookHead is the request line and headers of a delivery claiming a
// body of size bytes, signed with sig.
func webhookHead(addr string, size int64, sig, id string) string {
	return "POST /hooks/github HTTP/1.1\r\nHost: " + addr + "\r\nContent-Type: application/json\r\n" +
		"X-GitHub-Event: push\r\nX-GitHub-Delivery: " + id + "\r\nX-Hub-Signature-256: " + sig + "\r\n" +
		"Content-Length: " + strconv.FormatInt(size, 10) + "\r\n\r\n"
}

// forgedSignature is well-formed and matches no body.
var forgedSignature = "sha256=" + strings.Repeat("0", 64)

// closedWithin reads c until the server closes it and returns how long
// that took and the status code of the answer, if one came; it gives up
// after limit.
func closedWithin(c net.Conn, limit time.Duration) (took time.Duration, code int, closed bool) {
	start := time.Now()
	_ = c.SetReadDeadline(start.Add(limit))
	br := bufio.NewReader(c)
	if line, err := br.ReadString('\n'); err == nil {
		if f := strings.Fields(line); len(f) >= 2 {
			code, _ = strconv.Atoi(f[1])
		}
	}
	_, err := io.Copy(io.Discard, br)
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		return time.Since(start), code, false
	}
	return time.Since(start), code, true
}

// TestWebhookSlowBodyIsCut: a signed-looking delivery whose body trickles
// is answered 408 and its connection closed at the body deadline, and its
// room is handed back.
func TestWebhookSlowBodyIsCut(t *testing.T) {
	t.Parallel()
	var syncs syncCounter
	rc := newWebhookReceiver(testWebhookSecret, "", "", newDeliveryStore(t), syncs.requestSync, nil)
	rc.bodyTimeout = 500 * time.Millisecond
	addr := serveOn(t, rc, Timeouts{})
	c := dialFrom(t, "127.0.0.1", addr)
	if _, err := io.WriteString(c, webhookHead(addr, 1<<20, forgedSignature, "slow")); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		// One byte every 50 ms: a megabyte would take 14 hours.
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			if _, err := c.Write([]byte{' '}); err != nil {
				return
			}
		}
	}()
	took, code, closed := closedWithin(c, 5*time.Second)
	t.Logf("slow body: answered %d, closed after %s (deadline %s)", code, took, rc.bodyTimeout)
	if !closed || code != http.StatusRequestTimeout || took > rc.bodyTimeout+time.Second {
		t.Errorf("slow body: code %d, closed %v after %s; want 408 and closed within %s", code, closed, took, rc.bodyTimeout+time.Second)
	}
	waitFor(t, "room handed back", time.Second, func() bool {
		ch, rd := rc.room.inUse()
		return ch == 0 && rd == 0
	})
	if syncs.n.Load() != 0 {
		t.Error("a slow unsigned body requested a sync")
	}
}

// waitFor polls cond until it holds or within passes.
func waitFor(t testing.TB, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestWebhookRoomUnderAttack: 60 connections claiming 10 MB bodies and
// sending all but the last byte hold at most webhookBodyBudget between
// them; those that find no room are refused with 503 at once and closed;
// and a real delivery from another address still gets through while the
// attack goes on.
func TestWebhookRoomUnderAttack(t *testing.T) {
	t.Parallel()
	var syncs syncCounter
	rc := newWebhookReceiver(testWebhookSecret, payloadRepo, payloadBranch, newDeliveryStore(t), syncs.requestSync, nil)
	rc.bodyTimeout = 3 * time.Second
	rc.roomWait = 300 * time.Millisecond
	addr := serveOn(t, rc, Timeouts{})

	var peakChunks, peakReaders atomic.Int64
	stopWatch := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for {
			ch, rd := rc.room.inUse()
			peakChunks.Store(max(peakChunks.Load(), int64(ch)))
			peakReaders.Store(max(peakReaders.Load(), int64(rd)))
			select {
			case <-stopWatch:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()

	const attackers = 60
	type result struct {
		took   time.Duration
		code   int
		closed bool
	}
	results := make([]result, attackers)
	var wg sync.WaitGroup
	junk := bytes.Repeat([]byte("x"), 64<<10)
	for i := range attackers {
		c := dialFrom(t, "127.0.0.2", addr)
		wg.Go(func() {
			go func() {
				// All but the last byte, as fast as the server takes it.
				if _, err := io.WriteString(c, webhookHead(addr, webhookMaxBody, forgedSignature, fmt.Sprint("attack-", i))); err != nil {
					return
				}
				for left := webhookMaxBody - 1; left > 0; {
					n, err := c.Write(junk[:min(len(junk), left)])
					if err != nil {
						return
					}
					left -= n
				}
			}()
			took, code, closed := closedWithin(c, 10*time.Second)
			results[i] = result{took, code, closed}
		})
	}

	// While the attack holds its room: a real delivery from GitHub's
	// address gets in.
	time.Sleep(100 * time.Millisecond)
	push := readPayload(t, "push/with-new-branch.payload.json")
	gh := dialFrom(t, "127.0.0.3", addr)
	if _, err := io.WriteString(gh, webhookHead(addr, int64(len(push)), signBody(testWebhookSecret, push), "real-1")); err != nil {
		t.Fatal(err)
	}
	if _, err := gh.Write(push); err != nil {
		t.Fatal(err)
	}
	_ = gh.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(gh), nil)
	if err != nil {
		t.Fatalf("real delivery during the attack: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Errorf("real delivery during the attack: %d, want 202", resp.StatusCode)
	}

	wg.Wait()
	close(stopWatch)
	<-watched
	codes := map[int]int{}
	var slowest time.Duration
	for i, r := range results {
		codes[r.code]++
		slowest = max(slowest, r.took)
		if !r.closed {
			t.Errorf("attacker %d: connection still open after %s", i, r.took)
		}
	}
	budgetChunks := int64(webhookBodyBudget / webhookChunk)
	t.Logf("60 attackers: answers %v, slowest closed after %s; peak room %d of %d chunks (%d MiB), %d readers",
		codes, slowest, peakChunks.Load(), budgetChunks, peakChunks.Load()*webhookChunk>>20, peakReaders.Load())
	if peakChunks.Load() > budgetChunks || peakReaders.Load() > webhookReaders {
		t.Errorf("room used beyond its bounds: %d chunks, %d readers", peakChunks.Load(), peakReaders.Load())
	}
	if codes[http.StatusServiceUnavailable] < attackers-int(budgetChunks*webhookChunk/webhookMaxBody) {
		t.Errorf("answers %v: want all but %d refused with 503", codes, budgetChunks*webhookChunk/webhookMaxBody)
	}
	if slowest > rc.bodyTimeout+2*time.Second {
		t.Errorf("slowest attacker closed after %s, want within %s", slowest, rc.bodyTimeout+2*time.Second)
	}
	if n := syncs.n.Load(); n != 1 {
		t.Errorf("%d syncs requested, want 1 (the real delivery)", n)
	}
}

// TestWebhookPerClientSlots: one address holding small bodies open gets
// webhookReadersPerClient slots, not all of them.
func TestWebhookPerClientSlots(t *testing.T) {
	t.Parallel()
	var syncs syncCounter
	rc := newWebhookReceiver(testWebhookSecret, "", "", newDeliveryStore(t), syncs.requestSync, nil)
	rc.bodyTimeout = 2 * time.Second
	rc.roomWait = 200 * time.Millisecond
	addr := serveOn(t, rc, Timeouts{})
	const conns = 12
	var wg sync.WaitGroup
	codes := make([]int, conns)
	for i := range conns {
		c := dialFrom(t, "127.0.0.4", addr)
		if _, err := io.WriteString(c, webhookHead(addr, 1024, forgedSignature, fmt.Sprint("small-", i))); err != nil {
			t.Fatal(err)
		}
		wg.Go(func() { _, codes[i], _ = closedWithin(c, 5*time.Second) })
	}
	time.Sleep(100 * time.Millisecond)
	if _, rd := rc.room.inUse(); rd > webhookReadersPerClient {
		t.Errorf("one address holds %d reader slots, want at most %d", rd, webhookReadersPerClient)
	}
	wg.Wait()
	var refused, timedOut int
	for _, c := range codes {
		switch c {
		case http.StatusServiceUnavailable:
			refused++
		case http.StatusRequestTimeout:
			timedOut++
		}
	}
	if timedOut != webhookReadersPerClient || refused != conns-webhookReadersPerClient {
		t.Errorf("answers %v: want %d cut at the deadline (408) and the rest refused (503)", codes, webhookReadersPerClient)
	}
}

// TestWebhookRefusesBeforeReading: what the headers already refuse costs
// no room: a missing length, a length over the limit, a malformed
// signature.
func TestWebhookRefusesBeforeReading(t *testing.T) {
	t.Parallel()
	var syncs syncCounter
	rc := newWebhookReceiver(testWebhookSecret, "", "", newDeliveryStore(t), syncs.requestSync, nil)
	addr := serveOn(t, rc, Timeouts{})
	tests := []struct {
		name     string
		head     string
		wantCode int
	}{
		{"chunked body without a length is 411",
			"POST /hooks/github HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: push\r\nX-GitHub-Delivery: c\r\nX-Hub-Signature-256: " + forgedSignature + "\r\nTransfer-Encoding: chunked\r\n\r\n",
			http.StatusLengthRequired},
		{"a length over the limit is 413", webhookHead(addr, webhookMaxBody+1, forgedSignature, "big"), http.StatusRequestEntityTooLarge},
		{"a malformed signature is 401", webhookHead(addr, 1<<20, "sha256=nothex", "bad"), http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dialFrom(t, "127.0.0.1", addr)
			if _, err := io.WriteString(c, tt.head); err != nil {
				t.Fatal(err)
			}
			// No body follows: the answer must not wait for one.
			took, code, closed := closedWithin(c, 2*time.Second)
			if code != tt.wantCode || !closed || took > time.Second {
				t.Errorf("answered %d, closed %v after %s; want %d and closed at once", code, closed, took, tt.wantCode)
			}
			if ch, rd := rc.room.inUse(); ch != 0 || rd != 0 {
				t.Errorf("room in use: %d chunks, %d readers", ch, rd)
			}
		})
	}
}

// newTimeoutServer is the whole Server with tm on a loopback listener.
func newTimeoutServer(t *testing.T, tm Timeouts) (*Server, string) {
	t.Helper()
	op, store := newIdleOperator(t)
	srv, err := New(Config{Operator: op, Store: store, Timeouts: tm})
	if err != nil {
		t.Fatal(err)
	}
	hs := srv.HTTPServer()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	return srv, ln.Addr().String()
}

// TestIdleKeepAliveClosed: a keep-alive connection that sends no second
// request is closed after Timeouts.Idle, not kept for good.
func TestIdleKeepAliveClosed(t *testing.T) {
	t.Parallel()
	const idle = 300 * time.Millisecond
	_, addr := newTimeoutServer(t, Timeouts{Idle: idle})
	c := dialFrom(t, "127.0.0.1", addr)
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.Close {
		t.Fatal("the server did not keep the connection alive")
	}
	start := time.Now()
	_ = c.SetReadDeadline(start.Add(5 * time.Second))
	_, err = br.ReadByte()
	took := time.Since(start)
	t.Logf("idle keep-alive connection closed after %s (IdleTimeout %s)", took, idle)
	if !errors.Is(err, io.EOF) || took < idle-50*time.Millisecond || took > idle+time.Second {
		t.Errorf("idle connection: %v after %s, want EOF after about %s", err, took, idle)
	}
}

// TestSlowBodyCutOnEveryRoute: a body that trickles is cut at
// Timeouts.Body on a route that reads one before any credentials are
// checked (login), and headers that trickle at Timeouts.ReadHeader.
func TestSlowBodyCutOnEveryRoute(t *testing.T) {
	t.Parallel()
	tm := Timeouts{Body: 400 * time.Millisecond, ReadHeader: 400 * time.Millisecond}
	_, addr := newTimeoutServer(t, tm)
	tests := []struct {
		name, head string
		limit      time.Duration
	}{
		{"login body", "POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{", tm.Body},
		{"headers", "GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ", tm.ReadHeader},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := dialFrom(t, "127.0.0.1", addr)
			if _, err := io.WriteString(c, tt.head); err != nil {
				t.Fatal(err)
			}
			go func() {
				for range 200 {
					time.Sleep(50 * time.Millisecond)
					if _, err := c.Write([]byte{'a'}); err != nil {
						return
					}
				}
			}()
			took, code, closed := closedWithin(c, 5*time.Second)
			t.Logf("%s: answered %d, closed after %s", tt.name, code, took)
			if !closed || took > tt.limit+time.Second {
				t.Errorf("%s: closed %v after %s, want within %s", tt.name, closed, took, tt.limit+time.Second)
			}
		})
	}
}

// TestWriteDeadlineFollowsProgress: a client that stops reading is cut a
// write timeout after the last write that went through, while a stream
// that lifts its deadline (as startSSE does) and writes at least as often
// goes on far longer than the timeout.
func TestWriteDeadlineFollowsProgress(t *testing.T) {
	t.Parallel()
	const timeout = 300 * time.Millisecond
	writeErr := make(chan error, 1)
	streamed := make(chan int, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /flood", func(w http.ResponseWriter, r *http.Request) {
		w = newProgressWriter(w, timeout)
		chunk := bytes.Repeat([]byte("y"), 64<<10)
		for {
			if _, err := w.Write(chunk); err != nil {
				writeErr <- err
				return
			}
		}
	})
	mux.HandleFunc("GET /stream", func(w http.ResponseWriter, r *http.Request) {
		w = newProgressWriter(w, timeout)
		sse, err := startSSE(w)
		if err != nil {
			t.Error(err)
			return
		}
		n := 0
		for range 15 { // 1.5 s, five times the timeout
			time.Sleep(100 * time.Millisecond)
			if err := sse.ping(); err != nil {
				break
			}
			n++
		}
		streamed <- n
	})
	addr := serveOn(t, mux, Timeouts{})

	// A client that asks and never reads.
	c := dialFrom(t, "127.0.0.1", addr)
	if _, err := io.WriteString(c, "GET /flood HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-writeErr:
		if !isTimeout(err) {
			t.Errorf("flood to a client that does not read ended with %v, want a timeout", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a client that never reads held its answer for 10 s")
	}

	// A stream read as it comes.
	resp, err := http.Get("http://" + addr + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if n := <-streamed; n != 15 {
		t.Errorf("stream cut after %d of 15 pings", n)
	}
}

// loginClient is an HTTP client whose connections come from the loopback
// address src.
func loginClient(src string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}, Timeout: 30 * time.Second}
}

// postLogin logs in as user over c and returns the status code.
func postLogin(t testing.TB, c *http.Client, addr, user, password string) int {
	resp, err := c.Post("http://"+addr+"/auth/login", "application/json",
		strings.NewReader(`{"username":`+strconv.Quote(user)+`,"password":`+strconv.Quote(password)+`}`))
	if err != nil {
		t.Errorf("login from a test client: %v", err)
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestOwnerLogsInUnderAttack is issue 11's item 7 over real sockets: an
// attacker on 127.0.0.2 sends a wrong password for the owner's account
// every 100 ms (five times the rate), after twenty more addresses
// have each tried once so the account counts as under attack; the owner on
// 127.0.0.3 logs in with the right password again and again, and gets in
// within a couple of seconds every time, while the attacker is refused.
func TestOwnerLogsInUnderAttack(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("takes 10 s")
	}
	f := newAuthFixture(t)
	f.addUser(t, "admin", "the owner's password")
	hs := f.srv.HTTPServer()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	addr := ln.Addr().String()

	for i := range 20 {
		if code := postLogin(t, loginClient("127.0.0."+strconv.Itoa(10+i)), addr, "admin", "guess"); code != http.StatusUnauthorized {
			t.Fatalf("spray %d: %d, want 401", i, code)
		}
	}

	stop := make(chan struct{})
	attackDone := make(chan map[int]int)
	go func() {
		codes := map[int]int{}
		c := loginClient("127.0.0.2")
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				attackDone <- codes
				return
			case <-tick.C:
			}
			codes[postLogin(t, c, addr, "admin", "guess")]++
		}
	}()

	owner := loginClient("127.0.0.3")
	var took []time.Duration
	for range 6 {
		time.Sleep(time.Second)
		start := time.Now()
		code := postLogin(t, owner, addr, "admin", "the owner's password")
		took = append(took, time.Since(start))
		if code != http.StatusOK {
			t.Errorf("owner login under attack: %d after %s, want 200", code, took[len(took)-1])
		}
	}
	close(stop)
	codes := <-attackDone
	var slowest, sum time.Duration
	for _, d := range took {
		slowest = max(slowest, d)
		sum += d
	}
	t.Logf("owner logins under attack: %v (mean %s, slowest %s); attacker's answers %v",
		took, sum/time.Duration(len(took)), slowest, codes)
	// The owner is slowed by about a second, never blocked: the bug this
	// pins kept the owner at 429 for minutes. The bound is loose, since
	// bcrypt under -race on a loaded 2-core runner alone takes seconds;
	// the figures are logged above.
	if slowest > 15*time.Second {
		t.Errorf("owner waited %s for a login, want the owner slowed, not blocked", slowest)
	}
	if codes[http.StatusOK] > 0 || codes[http.StatusUnauthorized] > loginClientFree {
		t.Errorf("attacker's answers %v: want no success and at most %d checked passwords", codes, loginClientFree)
	}
}
