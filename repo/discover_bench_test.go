package repo

import (
	"testing"

	"github.com/fastflow-dev/fastflow/repo/repotest"
)

// BenchmarkDiscover1000 measures discovery plus validation of a generated repository of
// 1,000 pipelines; issue 2 asks for under 300 ms on 2 cores.
func BenchmarkDiscover1000(b *testing.B) {
	dir := b.TempDir()
	repotest.Generate(b, dir, 1000)
	// Compile the schema outside the loop: a process does it once.
	if _, err := Discover(dir); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		ps, err := Discover(dir)
		if err != nil {
			b.Fatal(err)
		}
		if len(ps) != 1000 {
			b.Fatalf("found %d pipelines, want 1000", len(ps))
		}
		for _, p := range ps {
			if !p.Valid() {
				b.Fatalf("%s: %v", p.Name, p.Problems)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/op")
}
