package kubernetes

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/fastflow-dev/fastflow/runtime"
)

// maxLogRetry bounds the pause between two log requests to a container
// that is not running yet.
const maxLogRetry = 2 * time.Second

// holdBack is how long a followed line of one stream waits for a line of
// the other that the kubelet stamped earlier before it is passed on.
const holdBack = 100 * time.Millisecond

// Logs streams the run's output from the pod log API with the kubelet's
// timestamps. While the container is still being created the API answers
// 400; the request is retried until the container runs or has ended. A run
// whose pod is gone (stopped, or never started) has no more output: its
// stream ends at once.
func (c *Client) Logs(ctx context.Context, id string, opts runtime.LogOptions) (runtime.LogStream, error) {
	if _, err := c.api.BatchV1().Jobs(c.ns).Get(ctx, id, metav1.GetOptions{}); err != nil {
		return nil, fmt.Errorf("logs: %w", c.wrap("get job", id, err))
	}
	ctx, cancel := context.WithCancel(ctx)
	s := &logStream{cancel: cancel, done: ctx.Done(), ctxErr: ctx.Err, in: make(chan logItem), hold: holdBack}
	if !opts.Follow {
		// A finished read has no late lines to wait for: wait for both.
		s.hold = -1
	}
	streams := []string{corev1.LogStreamStdout, corev1.LogStreamStderr}
	if c.merged {
		streams = []string{corev1.LogStreamAll}
	}
	s.open, s.n = len(streams), len(streams)
	for i, name := range streams {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			err := c.readLog(ctx, id, name, opts, func(l runtime.LogLine) bool {
				select {
				case s.in <- logItem{stream: i, line: l, at: time.Now()}:
					return true
				case <-ctx.Done():
					return false
				}
			})
			select {
			case s.in <- logItem{stream: i, end: true, err: err}:
			case <-ctx.Done():
			}
		}()
	}
	return s, nil
}

// readLog sends the lines of one stream of the run's container to send
// until they end, reconnecting after a dropped follow without repeating a
// line.
func (c *Client) readLog(ctx context.Context, id, stream string, opts runtime.LogOptions, send func(runtime.LogLine) bool) error {
	label := "stdout"
	if stream == corev1.LogStreamStderr {
		label = "stderr"
	}
	since := opts.Since
	// seen counts the lines already sent at exactly since, which a
	// reconnect receives again.
	seen := 0
	wait := c.logRetry
	for {
		pod, err := c.logPod(ctx, id)
		if err != nil || pod == nil {
			return err
		}
		po := &corev1.PodLogOptions{Container: containerName, Follow: opts.Follow, Timestamps: true}
		if stream != corev1.LogStreamAll {
			po.Stream = &stream
		}
		if !since.IsZero() {
			// The API counts in whole seconds: ask from the second before
			// and drop what is older here.
			t := metav1.NewTime(since.Truncate(time.Second))
			po.SinceTime = &t
		}
		body, err := c.api.CoreV1().Pods(c.ns).GetLogs(pod.Name, po).Stream(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if apierrors.IsNotFound(err) {
				// The pod went between the look-up and the request.
				continue
			}
			if apierrors.IsBadRequest(err) || isTransient(err) {
				// Still being created (or pulled, or scheduled), or the
				// kubelet not reachable yet: ask again, less often the
				// longer it takes.
				if !c.pause(ctx, wait) {
					return ctx.Err()
				}
				wait = min(2*wait, maxLogRetry)
				continue
			}
			return c.wrap("logs of", pod.Name, err)
		}
		wait = c.logRetry
		r := bufio.NewReaderSize(body, 64<<10)
		var readErr error
		dupes := seen
		for {
			raw, err := r.ReadString('\n')
			if raw != "" {
				l, ok := parseLine(strings.TrimSuffix(raw, "\n"), label)
				switch {
				case !ok:
				case l.Time.Before(since):
				case l.Time.Equal(since) && dupes > 0:
					dupes--
				default:
					if !send(l) {
						_ = body.Close()
						return ctx.Err()
					}
					if l.Time.Equal(since) {
						seen++
					} else {
						since, seen = l.Time, 1
					}
				}
			}
			if err != nil {
				readErr = err
				break
			}
		}
		_ = body.Close()
		if !opts.Follow {
			if errors.Is(readErr, io.EOF) {
				return nil
			}
			return c.wrap("read logs of", pod.Name, readErr)
		}
		// A follow ends when the container does; anything else was a
		// dropped connection, picked up again from the last line.
		if ended, err := c.containerEnded(ctx, pod.Name); err != nil || ended {
			return err
		}
		if !c.pause(ctx, c.logRetry) {
			return ctx.Err()
		}
	}
}

// logPod returns the run's pod once its container has started (it runs or
// has ended), watching it while it is scheduled, pulled and created; nil
// when the run ended without running it (stopped before it ran, an image
// that cannot be pulled, its Job gone).
func (c *Client) logPod(ctx context.Context, id string) (*corev1.Pod, error) {
	var pod *corev1.Pod
	err := c.observe(ctx, id, func(job *batchv1.Job, pods []podState) (bool, error) {
		var newest *corev1.Pod
		for _, p := range pods {
			if !p.gone && (newest == nil || p.pod.CreationTimestamp.After(newest.CreationTimestamp.Time)) {
				newest = p.pod
			}
		}
		if newest == nil {
			_, stopped := recorded(job)
			return stopped || jobFinished(job), nil
		}
		if cs := runContainer(newest); cs != nil && (cs.State.Running != nil || cs.State.Terminated != nil) {
			pod = newest
			return true, nil
		}
		_, ended := c.podOutcome(newest, time.Now())
		return ended, nil
	})
	if errors.Is(err, runtime.ErrNotFound) {
		return nil, nil
	}
	return pod, err
}

// containerEnded says whether the run's container in pod has ended (or
// the pod is gone).
func (c *Client) containerEnded(ctx context.Context, pod string) (bool, error) {
	p, err := c.api.CoreV1().Pods(c.ns).Get(ctx, pod, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return true, nil
	}
	if err != nil {
		return false, c.wrap("get pod", pod, err)
	}
	_, ended := c.podOutcome(p, time.Now())
	return ended, nil
}

// parseLine splits "<RFC 3339 time> <text>" as the log API writes it with
// timestamps.
func parseLine(s, stream string) (runtime.LogLine, bool) {
	ts, text, _ := strings.Cut(s, " ")
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return runtime.LogLine{}, false
	}
	return runtime.LogLine{Time: t, Stream: stream, Text: text}, true
}

// pause waits d or until ctx ends (false).
func (c *Client) pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

type logItem struct {
	stream int
	line   runtime.LogLine
	at     time.Time // arrival
	end    bool
	err    error
}

// logStream merges the lines of its readers (stdout and stderr, or the one
// merged stream) in the kubelet's time order. A line is passed on once
// every other open stream has a later one waiting, or its own stream is
// the only one left, or, following, it waited hold.
type logStream struct {
	cancel context.CancelFunc
	done   <-chan struct{}
	ctxErr func() error
	wg     sync.WaitGroup
	n      int // readers
	in     chan logItem
	hold   time.Duration // negative: wait for the other streams however long

	mu     sync.Mutex
	heads  [2][]logItem
	ended  [2]bool
	open   int
	err    error
	closed bool
}

func (s *logStream) Next() (runtime.LogLine, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		if s.closed {
			return runtime.LogLine{}, errors.New("kubernetes logs: stream closed")
		}
		l, ok, wait := s.ready(time.Now())
		if ok {
			return l, nil
		}
		if s.open == 0 {
			if s.err != nil {
				return runtime.LogLine{}, s.err
			}
			return runtime.LogLine{}, io.EOF
		}
		var (
			wake  <-chan time.Time
			timer *time.Timer
		)
		if wait > 0 {
			timer = time.NewTimer(wait)
			wake = timer.C
		}
		select {
		case it := <-s.in:
			switch {
			case !it.end:
				s.heads[it.stream] = append(s.heads[it.stream], it)
			default:
				s.ended[it.stream] = true
				s.open--
				if it.err != nil && !errors.Is(it.err, context.Canceled) && s.err == nil {
					s.err = it.err
				}
			}
		case <-wake:
		case <-s.done:
			return runtime.LogLine{}, fmt.Errorf("kubernetes logs: %w", s.ctxErr())
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

// ready pops the next line that may be passed on. When the earliest line
// waits for another stream, wait is how long it may still wait (0: for
// as long as it takes).
func (s *logStream) ready(now time.Time) (l runtime.LogLine, ok bool, wait time.Duration) {
	best := -1
	for i := range s.n {
		if len(s.heads[i]) > 0 && (best < 0 || s.heads[i][0].line.Time.Before(s.heads[best][0].line.Time)) {
			best = i
		}
	}
	if best < 0 {
		return runtime.LogLine{}, false, 0
	}
	head := s.heads[best][0]
	for i := range s.n {
		if i == best || s.ended[i] || len(s.heads[i]) > 0 {
			continue
		}
		// Stream i may still send an earlier line.
		if s.hold < 0 {
			return runtime.LogLine{}, false, 0
		}
		if left := s.hold - now.Sub(head.at); left > 0 {
			return runtime.LogLine{}, false, left
		}
	}
	s.heads[best] = s.heads[best][1:]
	return head.line, true, 0
}

// Close stops the readers and waits for them.
func (s *logStream) Close() error {
	s.cancel()
	s.wg.Wait()
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return nil
}
