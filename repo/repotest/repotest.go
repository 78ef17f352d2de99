package repotest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Generate writes n generated pipelines into dir (see GenerateDir) and fails tb on error.
func Generate(tb testing.TB, dir string, n int) {
	tb.Helper()
	if err := GenerateDir(dir, n); err != nil {
		tb.Fatal(err)
	}
}

// GenerateDir writes n valid pipelines named pipeline-0000, pipeline-0001, ... into dir,
// creating dir if needed. The mix is deterministic and roughly what a real repository
// holds: every pipeline has a main.py; about half have metadata (some as {name}.json rather
// than pipeline.json), a quarter a requirements.txt, and the metadata variously carries cron
// and interval schedules, limits, parameters, secrets and default_env. A README.md and a
// hidden .github directory sit beside them, as in a real repository.
func GenerateDir(dir string, n int) error {
	if err := os.MkdirAll(filepath.Join(dir, ".github", "workflows"), 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	files := map[string]string{
		"README.md":                "# Generated pipelines\n",
		".github/workflows/ci.yml": "on: push\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, filepath.FromSlash(name)), []byte(body), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	for i := range n {
		name := fmt.Sprintf("pipeline-%04d", i)
		if err := WriteFiles(dir, PipelineFiles(name, i)); err != nil {
			return err
		}
	}
	return nil
}

// PipelineFiles returns the files of generated pipeline number i, keyed by slash path
// relative to the repository root.
func PipelineFiles(name string, i int) map[string]string {
	files := map[string]string{
		name + "/main.py": fmt.Sprintf("import os\n\nprint(\"pipeline %d says hello\")\nprint(\"DATE =\", os.environ.get(\"DATE\", \"unset\"))\n", i),
	}
	if i%4 == 0 {
		files[name+"/requirements.txt"] = fmt.Sprintf("six==1.16.0\nrequests>=2.%d\n", i%30)
	}
	if i%2 == 1 {
		return files
	}
	var fields []string
	fields = append(fields, fmt.Sprintf(`"description": "Generated pipeline %d"`, i), `"tags": ["generated", "bench"]`)
	switch i % 6 {
	case 0:
		fields = append(fields, fmt.Sprintf(`"schedule": "%d * * * *"`, i%60))
	case 2:
		fields = append(fields, `"schedules": [{"cron": "0 6 * * 1-5", "timezone": "Europe/Berlin", "name": "weekday mornings"}, {"every": "15m"}]`, `"timezone": "UTC"`, `"catchup": "none"`)
	case 4:
		fields = append(fields, `"schedule": {"every": "1h"}`, `"concurrency_policy": "Replace"`)
	}
	if i%3 == 0 {
		fields = append(fields, `"cpu_hard_limit": 1.5`, `"cpu_soft_limit": 1`, `"mem_hard_limit": "1g"`, `"mem_soft_limit": "800m"`, `"timeout": 3600`, `"retry_attempts": 2`, `"retry_delay": 30`)
	}
	if i%5 == 0 {
		fields = append(fields, `"parameters": {"DATE": {"type": "string", "description": "day to process", "required": true}, "LIMIT": {"type": "integer", "default": 100}, "RATIO": {"type": "number", "default": 0.5}, "DRY_RUN": {"type": "boolean", "default": false}, "MODE": {"type": "string", "enum": ["full", "delta"], "default": "delta"}}`,
			`"secrets": ["API_TOKEN"]`, `"default_env": {"LOG_LEVEL": "INFO"}`)
	}
	meta := "pipeline.json"
	if i%10 == 8 {
		meta = name + ".json"
	}
	files[name+"/"+meta] = "{\n  " + strings.Join(fields, ",\n  ") + "\n}\n"
	return files
}

// WriteFiles writes files (slash paths relative to dir) below dir, creating directories.
func WriteFiles(dir string, files map[string]string) error {
	for rel, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("create %s: %w", filepath.Dir(p), err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
	}
	return nil
}

// Broken describes one pipeline written by WriteBroken.
type Broken struct {
	Name string
	// Want is a fragment of the problem message the pipeline must produce.
	Want string
}

// WriteBroken writes, beside one valid pipeline called "ok", one pipeline per kind of
// problem discovery reports (except symlinks, which need the test's own directory layout)
// and returns them. It is meant for command tests: validate must exit 1 and name each.
func WriteBroken(tb testing.TB, dir string) []Broken {
	tb.Helper()
	big := "{\"description\": \"" + strings.Repeat("x", 1<<20) + "\"}"
	files := map[string]string{
		"ok/main.py":                    "print('ok')\n",
		"syntax/main.py":                "print(1)\n",
		"syntax/pipeline.json":          "{\n  \"timeout\": 60,\n}\n",
		"wrong-type/main.py":            "print(1)\n",
		"wrong-type/pipeline.json":      `{"timeout": "60"}`,
		"unknown-field/main.py":         "print(1)\n",
		"unknown-field/pipeline.json":   `{"timout": 60}`,
		"both-files/main.py":            "print(1)\n",
		"both-files/pipeline.json":      `{}`,
		"both-files/both-files.json":    `{}`,
		"bad name!/main.py":             "print(1)\n",
		"bad-cron/main.py":              "print(1)\n",
		"bad-cron/pipeline.json":        `{"schedule": "61 * * * *"}`,
		"bad-timezone/main.py":          "print(1)\n",
		"bad-timezone/pipeline.json":    `{"timezone": "Mars/Olympus"}`,
		"bad-default/main.py":           "print(1)\n",
		"bad-default/pipeline.json":     `{"parameters": {"N": {"type": "integer", "default": "ten"}}}`,
		"soft-above-hard/main.py":       "print(1)\n",
		"soft-above-hard/pipeline.json": `{"mem_hard_limit": "512m", "mem_soft_limit": "1g"}`,
		"too-big/main.py":               "print(1)\n",
		"too-big/pipeline.json":         big,
		"not-utf8/main.py":              "print('caf\xe9')\n",
	}
	if err := WriteFiles(dir, files); err != nil {
		tb.Fatal(err)
	}
	return []Broken{
		{"syntax", "invalid JSON at line 3, column 1"},
		{"wrong-type", "expected integer, but got string"},
		{"unknown-field", `unknown field "timout"`},
		{"both-files", "both pipeline.json and both-files.json exist"},
		{"bad name!", "invalid pipeline name"},
		{"bad-cron", "invalid cron expression"},
		{"bad-timezone", "unknown time zone"},
		{"bad-default", "does not match the parameter's type integer"},
		{"soft-above-hard", "is above mem_hard_limit"},
		{"too-big", "file is larger than 1024 KiB"},
		{"not-utf8", "not valid UTF-8"},
	}
}
