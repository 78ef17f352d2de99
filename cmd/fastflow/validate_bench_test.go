package main

import (
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/fastflow-dev/fastflow/repo/repotest"
)

// BenchmarkValidateBinary1000 runs the real `fastflow validate` binary on a
// generated 1,000-pipeline repository and reports the process's peak
// resident memory (target: under 100 MB) and wall time. Measuring the
// binary, not the function, counts everything a user's CI job pays for.
func BenchmarkValidateBinary1000(b *testing.B) {
	bin := filepath.Join(b.TempDir(), "fastflow")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	dir := b.TempDir()
	if err := repotest.GenerateDir(dir, 1000); err != nil {
		b.Fatal(err)
	}
	var peakKB int64
	var took time.Duration
	for b.Loop() {
		cmd := exec.Command(bin, "validate", dir)
		start := time.Now()
		out, err := cmd.CombinedOutput()
		took += time.Since(start)
		if err != nil {
			b.Fatalf("validate: %v\n%s", err, out)
		}
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok && ru.Maxrss > peakKB {
			peakKB = ru.Maxrss
		}
	}
	b.ReportMetric(float64(peakKB)/1024, "peak-RSS-MB")
	b.ReportMetric(float64(took.Milliseconds())/float64(b.N), "ms/validate")
	b.Logf("fastflow validate on 1,000 pipelines: peak RSS %.1f MB (target 100 MB), %.0f ms", float64(peakKB)/1024, float64(took.Milliseconds())/float64(b.N))
}
