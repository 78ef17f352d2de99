package kubernetes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/fastflow-dev/fastflow/runtime"
)

// summary is the part of the kubelet's summary API (stats/v1alpha1) a
// sample needs.
type summary struct {
	Pods []struct {
		PodRef struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
			UID       string `json:"uid"`
		} `json:"podRef"`
		Containers []struct {
			Name string `json:"name"`
			CPU  *struct {
				Time                 metav1.Time `json:"time"`
				UsageCoreNanoSeconds *uint64     `json:"usageCoreNanoSeconds"`
			} `json:"cpu"`
			Memory *struct {
				Time            metav1.Time `json:"time"`
				WorkingSetBytes *uint64     `json:"workingSetBytes"`
			} `json:"memory"`
		} `json:"containers"`
	} `json:"pods"`
}

// Stats samples the run's container from the kubelet's summary API, through
// the API server's node proxy, about once a second while it runs. The
// kubelet refreshes its figures on its own schedule; a sample is passed on
// only when its CPU time moved on. Memory is the working set, as Docker
// reports usage without the page cache; the limit is the container's, or
// the node's memory without one. Whether the container runs comes from one
// watch on its pod (the stream's watcher, which Close stops), so a sample
// costs one request.
func (c *Client) Stats(ctx context.Context, id string) (runtime.StatsStream, error) {
	if _, err := c.api.BatchV1().Jobs(c.ns).Get(ctx, id, metav1.GetOptions{}); err != nil {
		return nil, fmt.Errorf("stats: %w", c.wrap("get job", id, err))
	}
	ctx, cancel := context.WithCancel(ctx)
	s := &statsStream{c: c, ctx: ctx, cancel: cancel, id: id, started: make(chan struct{}), ended: make(chan struct{})}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.watch()
	}()
	return s, nil
}

// statsStream samples while its watcher, one watch on the run's pod, says
// the container runs.
type statsStream struct {
	c      *Client
	ctx    context.Context // the stream's own, ended by Close
	cancel context.CancelFunc
	id     string
	wg     sync.WaitGroup

	// The watcher sets pod and closes started once the container has
	// started, and sets endErr and closes ended once it has ended.
	started chan struct{}
	ended   chan struct{}
	pod     *corev1.Pod
	endErr  error

	mu       sync.Mutex
	placed   types.UID
	cpus     int
	memLimit uint64
	last     time.Time
	ticked   bool
}

func (s *statsStream) watch() {
	defer close(s.ended)
	pod, err := s.c.logPod(s.ctx, s.id)
	if err != nil || pod == nil {
		s.endErr = err
		return
	}
	s.pod = pod
	close(s.started)
	if _, err := s.c.Wait(s.ctx, s.id); err != nil && !errors.Is(err, runtime.ErrNotFound) {
		s.endErr = err
	}
}

func (s *statsStream) Next() (runtime.Sample, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.started:
	case <-s.ended:
		return runtime.Sample{}, s.end()
	}
	for {
		if s.ticked {
			t := time.NewTimer(s.c.statEvery)
			select {
			case <-t.C:
			case <-s.ended:
				t.Stop()
				return runtime.Sample{}, s.end()
			}
		}
		s.ticked = true
		smp, ok, err := s.sample(s.pod)
		if err != nil || ok {
			return smp, err
		}
	}
}

// end is what Next returns once the watcher is done.
func (s *statsStream) end() error {
	switch {
	case s.ctx.Err() != nil:
		return fmt.Errorf("kubernetes stats: %w", s.ctx.Err())
	case s.endErr != nil:
		return fmt.Errorf("kubernetes stats: %w", s.endErr)
	}
	return io.EOF
}

// sample reads the summary once; false when it has nothing new.
func (s *statsStream) sample(pod *corev1.Pod) (runtime.Sample, bool, error) {
	if pod.Spec.NodeName == "" {
		return runtime.Sample{}, false, nil // not scheduled yet
	}
	if s.placed != pod.UID {
		if err := s.place(pod); err != nil {
			return runtime.Sample{}, false, err
		}
	}
	raw, err := s.c.api.CoreV1().RESTClient().Get().Resource("nodes").Name(pod.Spec.NodeName).
		SubResource("proxy").Suffix("stats/summary").DoRaw(s.ctx)
	if err != nil {
		if isTransient(err) && s.ctx.Err() == nil {
			s.c.log.Debug("kubelet summary failed, retrying", "node", pod.Spec.NodeName, "err", err)
			return runtime.Sample{}, false, nil
		}
		return runtime.Sample{}, false, s.c.wrap("stats summary of node", pod.Spec.NodeName, err)
	}
	var sum summary
	if err := json.Unmarshal(raw, &sum); err != nil {
		return runtime.Sample{}, false, fmt.Errorf("kubernetes stats: decode the summary of %s: %w", pod.Spec.NodeName, err)
	}
	for _, p := range sum.Pods {
		if p.PodRef.UID != string(pod.UID) {
			continue
		}
		for _, ctr := range p.Containers {
			if ctr.Name != containerName || ctr.CPU == nil || ctr.CPU.UsageCoreNanoSeconds == nil {
				continue
			}
			at := ctr.CPU.Time.Time
			if !at.After(s.last) {
				return runtime.Sample{}, false, nil
			}
			s.last = at
			smp := runtime.Sample{
				Time:       at,
				CPUTotalNs: *ctr.CPU.UsageCoreNanoSeconds,
				// What Docker calls system CPU time: all cores' time
				// elapsed, so a percentage comes out as with Docker.
				SystemCPUNs:      uint64(at.UnixNano()) * uint64(s.cpus),
				OnlineCPUs:       s.cpus,
				MemoryLimitBytes: s.memLimit,
			}
			if m := ctr.Memory; m != nil && m.WorkingSetBytes != nil {
				smp.MemoryBytes = *m.WorkingSetBytes
			}
			return smp, true, nil
		}
	}
	return runtime.Sample{}, false, nil
}

// place reads what a sample needs to know of pod's node and limits.
func (s *statsStream) place(pod *corev1.Pod) error {
	node, err := s.c.api.CoreV1().Nodes().Get(s.ctx, pod.Spec.NodeName, metav1.GetOptions{})
	if err != nil {
		return s.c.wrap("get node", pod.Spec.NodeName, err)
	}
	s.placed = pod.UID
	s.cpus = max(1, int(node.Status.Capacity.Cpu().Value()))
	s.memLimit = uint64(max(0, node.Status.Capacity.Memory().Value()))
	for _, ctr := range pod.Spec.Containers {
		if ctr.Name != containerName {
			continue
		}
		if m, ok := ctr.Resources.Limits[corev1.ResourceMemory]; ok && m.Value() > 0 {
			s.memLimit = uint64(m.Value())
		}
	}
	return nil
}

// Close stops the watcher and waits for it.
func (s *statsStream) Close() error {
	s.cancel()
	s.wg.Wait()
	return nil
}
