package kubernetes_test

import (
	"bufio"
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/fastflow-dev/fastflow/runtime"
	"github.com/fastflow-dev/fastflow/runtime/kubernetes"
)

// startTarget is the bound on trigger-to-running through the
// runtime against a raw Job on the same cluster.
const startTarget = 1.2

// BenchmarkStartToFirstLine compares the time from asking for a run to its
// first line of output through the runtime (Start, then Logs following)
// with the same through raw API calls (create a Job, watch its pod until
// it runs, follow its log), alternating the two so both see the same load.
// It reports both medians, their ratio and the ratio to the target; run it
// with -benchtime=1x, each iteration already does runsPerSide runs of each.
func BenchmarkStartToFirstLine(b *testing.B) {
	c := requireCluster(b, kubernetes.Config{})
	const runsPerSide = 5
	var ours, raw []time.Duration
	ctx := context.Background()
	for b.Loop() {
		for i := range runsPerSide {
			d, err := firstLineOurs(ctx, c)
			if err != nil {
				b.Fatal(err)
			}
			ours = append(ours, d)
			d, err = firstLineRaw(ctx, c, fmt.Sprintf("bench-raw-%d-%d", time.Now().UnixNano()%1e6, i))
			if err != nil {
				b.Fatal(err)
			}
			raw = append(raw, d)
		}
	}
	mOurs, mRaw := median(ours), median(raw)
	ratio := float64(mOurs) / float64(mRaw)
	b.ReportMetric(float64(mOurs)/1e6, "runtime-ms")
	b.ReportMetric(float64(mRaw)/1e6, "raw-job-ms")
	b.ReportMetric(ratio, "ratio")
	b.ReportMetric(ratio/startTarget, "of-target")
	b.ReportMetric(0, "ns/op") // the per-op time mixes both sides; the metrics above say it
}

const benchScript = "echo ready; sleep 30"

func firstLineOurs(ctx context.Context, c *kubernetes.Client) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	spec := runtime.RunSpec{
		RunID: "bench-" + fmt.Sprint(time.Now().UnixNano()), Pipeline: "bench", Revision: "0123abcd", Kind: "bench",
		Image: workerImage, Command: []string{"sh", "-c", benchScript}, Labels: testLabels(),
	}
	begin := time.Now()
	id, err := c.Start(ctx, spec)
	if err != nil {
		return 0, err
	}
	defer c.Remove(context.WithoutCancel(ctx), id)
	ls, err := c.Logs(ctx, id, runtime.LogOptions{Follow: true})
	if err != nil {
		return 0, err
	}
	defer ls.Close()
	if l, err := ls.Next(); err != nil || l.Text != "ready" {
		return 0, fmt.Errorf("first line %+v, %v", l, err)
	}
	return time.Since(begin), nil
}

func firstLineRaw(ctx context.Context, c *kubernetes.Client, name string) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	api := kubernetes.API(c)
	ns := c.Namespace()
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: testLabels()},
		Spec: batchv1.JobSpec{
			BackoffLimit: new(int32(0)),
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever,
				Containers: []corev1.Container{{
					Name: "run", Image: workerImage, ImagePullPolicy: corev1.PullIfNotPresent,
					Command: []string{"sh", "-c", benchScript},
				}},
			}},
		},
	}
	begin := time.Now()
	if _, err := api.BatchV1().Jobs(ns).Create(ctx, job, metav1.CreateOptions{}); err != nil {
		return 0, err
	}
	bg := metav1.DeletePropagationBackground
	defer api.BatchV1().Jobs(ns).Delete(context.WithoutCancel(ctx), name, metav1.DeleteOptions{PropagationPolicy: &bg})
	w, err := api.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{LabelSelector: batchv1.JobNameLabel + "=" + name})
	if err != nil {
		return 0, err
	}
	defer w.Stop()
	var pod string
	for ev := range w.ResultChan() {
		if p, ok := ev.Object.(*corev1.Pod); ok && p.Status.Phase == corev1.PodRunning {
			pod = p.Name
			break
		}
	}
	if pod == "" {
		return 0, fmt.Errorf("the pod of %s never ran", name)
	}
	body, err := api.CoreV1().Pods(ns).GetLogs(pod, &corev1.PodLogOptions{Follow: true}).Stream(ctx)
	if err != nil {
		return 0, err
	}
	defer body.Close()
	line, err := bufio.NewReader(body).ReadString('\n')
	if err != nil || line != "ready\n" {
		return 0, fmt.Errorf("first line %q, %v", line, err)
	}
	return time.Since(begin), nil
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}
