package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fastflow-dev/fastflow/repo/gittest"
)

// Figures issue 12 names: the image under 60 MB (Dagu's binary alone is
// 162 MB) and `docker compose up -d` to /health ok under 10 s warm.
const (
	daguBinaryMB  = 162
	imageTargetMB = 60
	upTarget      = 10 * time.Second
)

// BenchmarkComposeUp measures the image's size and, per iteration, the
// time from `docker compose up -d` to /health ok on SQLite with the shipped
// compose file, then takes the project down again.
func BenchmarkComposeUp(b *testing.B) {
	requireImages(b, fastflowImage, workerImage)
	out, err := exec.Command("docker", "image", "inspect", "-f", "{{.Size}}", fastflowImage).Output()
	if err != nil {
		b.Fatal(err)
	}
	size, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if err != nil {
		b.Fatal(err)
	}
	hello, err := os.ReadFile(filepath.Join(repoRoot(b), "examples", "pipelines", "hello", "main.py"))
	if err != nil {
		b.Fatal(err)
	}
	remote := gittest.New(b)
	remote.Commit("hello", map[string]string{"hello/main.py": string(hello)})
	p := newProject(b, serveGit(b, remote.Dir), nil, "")

	var total time.Duration
	for b.Loop() {
		total += p.up()
		b.StopTimer()
		p.compose("down", "--timeout", "20")
		b.StartTimer()
	}
	mb := size / 1e6
	up := total.Seconds() / float64(b.N)
	b.ReportMetric(mb, "image-MB")
	b.ReportMetric(mb/daguBinaryMB, "image/dagu-binary")
	b.ReportMetric(mb/imageTargetMB, "image/target")
	b.ReportMetric(up, "up-to-health-s")
	b.ReportMetric(up/upTarget.Seconds(), "up/target")
}
