package operator

import (
	"maps"
	"path"

	"github.com/fastflow-dev/fastflow/repo"
	"github.com/fastflow-dev/fastflow/runtime"
)

// Where a container sees the run's code and the uv cache (DESIGN.md: the
// revision at /app, the pipeline's folder as working directory).
const (
	codeTarget    = "/app"
	uvCacheTarget = "/root/.cache/uv"
)

// containerSpec is the one place that builds a container for a pipeline:
// runs and warm-ups alike, so both see the same image, code, cache, site
// mounts and limits and a warm-up fills exactly the cache entries the run
// looks up. env is laid over the site's WORKER_ENV; kind is the
// LabelKind ("run" or "preheat").
func (o *Operator) containerSpec(kind, id, revision string, p repo.Pipeline, command []string, env map[string]string) runtime.RunSpec {
	merged := make(map[string]string, len(o.cfg.WorkerEnv)+len(env))
	maps.Copy(merged, o.cfg.WorkerEnv)
	maps.Copy(merged, env)
	var secretNames []string
	for _, n := range p.Spec.Secrets {
		if _, ok := merged[n]; ok {
			secretNames = append(secretNames, n)
		}
	}
	return runtime.RunSpec{
		RunID:    id,
		Pipeline: p.Name,
		Revision: revision,
		Kind:     kind,
		Image:    o.cfg.WorkerImage,
		Command:  command,
		WorkDir:  path.Join(codeTarget, p.Name),
		Env:      merged,
		Secrets:  secretNames,
		Code:     &runtime.Code{Revision: revision, Pipeline: p.Name, Target: codeTarget},
		Caches:   []runtime.Cache{{Name: runtime.CacheUV, Target: uvCacheTarget}},
		Mounts:   o.cfg.WorkerMounts,
		Labels:   map[string]string{runtime.LabelInstance: o.cfg.Instance},
		Limits: runtime.Limits{
			NanoCPUs:    int64(p.Spec.CPUHardLimit * 1e9),
			MemoryBytes: int64(p.Spec.MemHardLimit),
		},
		Deadline: o.PolicyFor(p.Spec).Timeout,
		Network:  o.cfg.WorkerNetwork,
		Log:      runtime.LogLimits{MaxSize: "10m", MaxFiles: 3},
		Init:     true,
	}
}
