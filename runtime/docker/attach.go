package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"

	"github.com/docker/docker/api/types/container"
)

// Why attach: Docker 20.10's json-file driver loses lines when a followed
// `logs` stream crosses a rotation (measured: 490,000 of 1,000,000 lines
// with max-size 10m, whatever max-file), and the runs are created with
// exactly such limits. A stream attached before the container starts sees
// every byte the container writes, like `docker run` does, whatever the log
// driver does with it. Lines from it are stamped when they arrive.

// attachments holds the output streams Start attached, until the first
// Logs call that follows from the beginning takes them.
type attachments struct {
	mu      sync.Mutex
	streams map[string]*attachedOutput
}

// attachedOutput is the hijacked connection of one attach.
type attachedOutput struct {
	conn net.Conn
	r    io.Reader
	stop func() bool // stops the context watch
}

func (a *attachedOutput) Read(p []byte) (int, error) { return a.r.Read(p) }

// Close closes the connection; closing one that ctx or the end of the
// output already closed is not an error.
func (a *attachedOutput) Close() error {
	a.stop()
	if err := a.conn.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil
}

func (a *attachments) put(id string, out *attachedOutput) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.streams == nil {
		a.streams = map[string]*attachedOutput{}
	}
	a.streams[id] = out
}

// take removes and returns the attached output of id, if there is one.
func (a *attachments) take(id string) (*attachedOutput, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	out, ok := a.streams[id]
	delete(a.streams, id)
	return out, ok
}

// attach connects to the container's stdout and stderr before it starts.
// The connection is not tied to ctx: it lives until Logs takes it and its
// reader closes it, or Remove drops it.
func (c *Client) attach(ctx context.Context, id string) error {
	var resp attachResponse
	err := c.do(ctx, "attach", id, func(ctx context.Context) error {
		hr, err := c.api.ContainerAttach(ctx, id, container.AttachOptions{Stream: true, Stdout: true, Stderr: true})
		if err != nil {
			return err
		}
		resp = attachResponse{conn: hr.Conn, r: hr.Reader}
		return nil
	})
	if err != nil {
		return fmt.Errorf("attach: %w", err)
	}
	c.attached.put(id, &attachedOutput{conn: resp.conn, r: resp.r, stop: func() bool { return false }})
	return nil
}

type attachResponse struct {
	conn net.Conn
	r    io.Reader
}

// attachedLogs turns a taken attachment into a log stream: Docker's
// multiplexed framing without timestamps, stamped on arrival. ctx ending
// closes the connection.
func (c *Client) attachedLogs(ctx context.Context, id string, out *attachedOutput) *logStream {
	sctx, cancel := context.WithCancel(ctx)
	out.stop = context.AfterFunc(sctx, func() { out.conn.Close() })
	s := newLogStream(ctx, out, cancel, func(err error) error { return c.classify("logs", id, err) })
	s.stampOnArrival = true
	return s
}

// dropAttachment closes an attachment nobody took (the run was removed
// before its logs were read).
func (c *Client) dropAttachment(id string) {
	if out, ok := c.attached.take(id); ok {
		_ = out.Close()
	}
}
