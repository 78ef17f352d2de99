package docker_test

import (
	"context"
	"errors"
	"io"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/fastflow-dev/fastflow/runtime"
)

// BenchmarkRunOverhead compares one run of `true` through the runtime
// (Start, follow the logs to their end, Wait, Remove) with the same run
// through `docker run --rm`, alternating the two so both see the same
// machine load. It reports both medians and their ratio; run it with
// -benchtime=1x, each iteration already does runsPerSide runs of each.
func BenchmarkRunOverhead(b *testing.B) {
	c := requireProbe(b)
	cli, err := exec.LookPath("docker")
	if err != nil {
		b.Skip("the docker CLI is not installed: no baseline to compare with")
	}
	const runsPerSide = 10
	var ours, baseline []time.Duration
	ctx := context.Background()
	for b.Loop() {
		for range runsPerSide {
			begin := time.Now()
			if err := runOnce(ctx, c, newSpec("")); err != nil {
				b.Fatal(err)
			}
			ours = append(ours, time.Since(begin))

			begin = time.Now()
			cmd := exec.CommandContext(ctx, cli, "run", "--rm", "--network", "none", "--label", "fastflow-test=1", probeImage, "true")
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("docker run: %v: %s", err, out)
			}
			baseline = append(baseline, time.Since(begin))
		}
	}
	mOurs, mBase := median(ours), median(baseline)
	b.ReportMetric(float64(mOurs)/1e6, "runtime-ms")
	b.ReportMetric(float64(mBase)/1e6, "docker-run-ms")
	b.ReportMetric(float64(mOurs)/float64(mBase), "ratio")
	b.ReportMetric(0, "ns/op") // the per-op time mixes both sides; the metrics above say it
}

// runOnce runs spec the way the operator does and removes its container.
func runOnce(ctx context.Context, c runtime.Runtime, spec runtime.RunSpec) (err error) {
	spec.Command = []string{"true"}
	id, err := c.Start(ctx, spec)
	if err != nil {
		return err
	}
	defer func() {
		if rerr := c.Remove(context.WithoutCancel(ctx), id); rerr != nil && err == nil {
			err = rerr
		}
	}()
	ls, err := c.Logs(ctx, id, runtime.LogOptions{Follow: true})
	if err != nil {
		return err
	}
	defer ls.Close()
	for {
		if _, err := ls.Next(); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return err
		}
	}
	st, err := c.Wait(ctx, id)
	if err != nil {
		return err
	}
	if st.Code != 0 {
		return errors.New("true exited non-zero")
	}
	return nil
}

func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}
