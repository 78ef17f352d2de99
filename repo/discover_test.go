package repo

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"

	"github.com/fastflow-dev/fastflow/repo/repotest"
	"github.com/fastflow-dev/fastflow/schemas"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	if err := repotest.WriteFiles(dir, files); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

const unknownTimeoutMsg = `unknown field "timout" (did you mean "timeout"?)`

// TestDiscoverProblems covers each kind of problem issue 2 lists. Every case builds a
// repository holding the pipeline under test, "p" unless the case says otherwise, beside
// a valid pipeline "ok" that must stay untouched.
func TestDiscoverProblems(t *testing.T) {
	tests := []struct {
		name     string
		pipeline string // the pipeline under test; "p" when empty
		files    map[string]string
		setup    func(t *testing.T, root, outside string)
		want     []Problem
	}{
		{
			name:  "valid metadata has no problems",
			files: map[string]string{"p/main.py": "print(1)\n", "p/pipeline.json": `{"schedule": "@daily"}`},
		},
		{
			name:  "malformed JSON with line and column",
			files: map[string]string{"p/main.py": "print(1)\n", "p/pipeline.json": "{\n  \"timeout\": 60,\n}\n"},
			want:  []Problem{{Path: "p/pipeline.json", Message: "invalid JSON at line 3, column 1: invalid character '}' looking for beginning of object key string"}},
		},
		{
			name:  "wrong type",
			files: map[string]string{"p/main.py": "print(1)\n", "p/pipeline.json": `{"enabled": "yes"}`},
			want:  []Problem{{Path: "p/pipeline.json", Pointer: "/enabled", Message: "expected boolean, but got string"}},
		},
		{
			name:  "unknown field",
			files: map[string]string{"p/main.py": "print(1)\n", "p/pipeline.json": `{"timout": 60}`},
			want:  []Problem{{Path: "p/pipeline.json", Pointer: "/timout", Message: unknownTimeoutMsg}},
		},
		{
			name:  "metadata named after the pipeline",
			files: map[string]string{"p/main.py": "print(1)\n", "p/p.json": `{"timout": 60}`},
			want:  []Problem{{Path: "p/p.json", Pointer: "/timout", Message: unknownTimeoutMsg}},
		},
		{
			name:  "both metadata files",
			files: map[string]string{"p/main.py": "print(1)\n", "p/pipeline.json": `{}`, "p/p.json": `{}`},
			want:  []Problem{{Path: "p/p.json", Message: "both pipeline.json and p.json exist; keep only one (pipeline.json is used)"}},
		},
		{
			name:     "a pipeline called pipeline has one metadata file",
			pipeline: "pipeline",
			files:    map[string]string{"pipeline/main.py": "print(1)\n", "pipeline/pipeline.json": `{}`},
		},
		{
			name:     "invalid name",
			pipeline: "my pipeline",
			files:    map[string]string{"my pipeline/main.py": "print(1)\n"},
			want:     []Problem{{Path: "my pipeline", Message: `invalid pipeline name "my pipeline": use 1 to 64 letters, digits, "_", "." or "-", starting with a letter or digit`}},
		},
		{
			name:     "name too long",
			pipeline: strings.Repeat("a", 65),
			files:    map[string]string{strings.Repeat("a", 65) + "/main.py": "print(1)\n"},
			want:     []Problem{{Path: strings.Repeat("a", 65), Message: `invalid pipeline name "` + strings.Repeat("a", 65) + `": use 1 to 64 letters, digits, "_", "." or "-", starting with a letter or digit`}},
		},
		{
			name:  "cron rejected by gronx",
			files: map[string]string{"p/main.py": "print(1)\n", "p/pipeline.json": `{"schedules": ["@daily", "0 25 * * *"]}`},
			want:  []Problem{{Path: "p/pipeline.json", Pointer: "/schedules/1", Message: `invalid cron expression "0 25 * * *": use 5 fields (minute hour day month weekday), 6 with seconds, or a macro such as @daily`}},
		},
		{
			name:  "unknown timezone",
			files: map[string]string{"p/main.py": "print(1)\n", "p/pipeline.json": `{"timezone": "Europe/Atlantis"}`},
			want:  []Problem{{Path: "p/pipeline.json", Pointer: "/timezone", Message: `unknown time zone "Europe/Atlantis": use an IANA name such as "Europe/Berlin" or "UTC"`}},
		},
		{
			name:  "parameter default of the wrong type",
			files: map[string]string{"p/main.py": "print(1)\n", "p/pipeline.json": `{"parameters": {"DRY_RUN": {"type": "boolean", "default": "no"}}}`},
			want:  []Problem{{Path: "p/pipeline.json", Pointer: "/parameters/DRY_RUN/default", Message: `default "no" (a string) does not match the parameter's type boolean`}},
		},
		{
			name:  "mem_soft_limit above mem_hard_limit",
			files: map[string]string{"p/main.py": "print(1)\n", "p/pipeline.json": `{"mem_hard_limit": "64m", "mem_soft_limit": "1g"}`},
			want:  []Problem{{Path: "p/pipeline.json", Pointer: "/mem_soft_limit", Message: "mem_soft_limit (1 GiB) is above mem_hard_limit (64 MiB)"}},
		},
		{
			name:  "metadata over 1 MiB",
			files: map[string]string{"p/main.py": "print(1)\n", "p/pipeline.json": `{"description": "` + strings.Repeat("x", 1<<20) + `"}`},
			want:  []Problem{{Path: "p/pipeline.json", Message: "file is larger than 1024 KiB; metadata must stay small"}},
		},
		{
			name:  "metadata not UTF-8",
			files: map[string]string{"p/main.py": "print(1)\n", "p/pipeline.json": "{\n\"description\": \"caf\xe9\"}"},
			want:  []Problem{{Path: "p/pipeline.json", Message: "not valid UTF-8 (first bad byte at line 2, column 20)"}},
		},
		{
			name:  "main.py not UTF-8",
			files: map[string]string{"p/main.py": "# coding: latin-1\nprint('caf\xe9')\n"},
			want:  []Problem{{Path: "p/main.py", Message: "not valid UTF-8 text (first invalid byte on line 2); save the file as UTF-8"}},
		},
		{
			name:  "requirements.txt not UTF-8",
			files: map[string]string{"p/main.py": "print(1)\n", "p/requirements.txt": "six\n\xff\xfe\n"},
			want:  []Problem{{Path: "p/requirements.txt", Message: "not valid UTF-8 text (first invalid byte on line 2); save the file as UTF-8"}},
		},
		{
			name:  "metadata is a directory",
			files: map[string]string{"p/main.py": "print(1)\n", "p/pipeline.json/x": "{}"},
			want:  []Problem{{Path: "p/pipeline.json", Message: "not a regular file"}},
		},
		{
			name:  "symlink to an absolute path",
			files: map[string]string{"p/main.py": "print(1)\n"},
			setup: func(t *testing.T, root, _ string) { symlink(t, "/etc", filepath.Join(root, "p", "data")) },
			want:  []Problem{{Path: "p/data", Message: `symlink to the absolute path "/etc"; only relative links that stay inside the repository are allowed`}},
		},
		{
			name:  "symlink escaping with dot-dot, deep in the tree",
			files: map[string]string{"p/main.py": "print(1)\n"},
			setup: func(t *testing.T, root, _ string) {
				symlink(t, "../../../../outside/secret", filepath.Join(root, "p", "sub", "deep", "x"))
			},
			want: []Problem{{Path: "p/sub/deep/x", Message: `symlink to "../../../../outside/secret", which resolves outside the repository`}},
		},
		{
			name:  "symlink chain leaving the root",
			files: map[string]string{"p/main.py": "print(1)\n"},
			setup: func(t *testing.T, root, _ string) {
				symlink(t, "b", filepath.Join(root, "p", "a"))
				symlink(t, "../../outside", filepath.Join(root, "p", "b"))
			},
			want: []Problem{
				{Path: "p/a", Message: `symlink to "b", which resolves outside the repository`},
				{Path: "p/b", Message: `symlink to "../../outside", which resolves outside the repository`},
			},
		},
		{
			name:  "main.py linked to a host file is never read",
			files: map[string]string{"p/pipeline.json": `{}`},
			setup: func(t *testing.T, root, outside string) {
				symlink(t, filepath.Join(outside, "latin1.py"), filepath.Join(root, "p", "main.py"))
			},
			want: []Problem{{Path: "p/main.py", Message: `symlink to the absolute path "` + "OUTSIDE" + `/latin1.py"; only relative links that stay inside the repository are allowed`}},
		},
		{
			name:  "metadata linked out of the root is never read",
			files: map[string]string{"p/main.py": "print(1)\n"},
			setup: func(t *testing.T, root, _ string) {
				symlink(t, "../../outside/bad.json", filepath.Join(root, "p", "pipeline.json"))
			},
			want: []Problem{{Path: "p/pipeline.json", Message: `symlink to "../../outside/bad.json", which resolves outside the repository`}},
		},
		{
			name:     "pipeline directory linked outside",
			pipeline: "evil",
			setup: func(t *testing.T, root, _ string) {
				symlink(t, "../outside", filepath.Join(root, "evil"))
			},
			want: []Problem{{Path: "evil", Message: `pipeline directory is a symlink to "../outside", which resolves outside the repository`}},
		},
		{
			name:  "symlinks inside the root are fine, dangling ones too",
			files: map[string]string{"p/main.py": "print(1)\n", "shared/lib.py": "X = 1\n"},
			setup: func(t *testing.T, root, _ string) {
				symlink(t, "../shared/lib.py", filepath.Join(root, "p", "lib.py"))
				symlink(t, "../shared", filepath.Join(root, "p", "shared"))
				symlink(t, "missing.txt", filepath.Join(root, "p", "dangling"))
				symlink(t, ".", filepath.Join(root, "p", "self"))
			},
		},
		{
			name:  "link through a directory link that leaves the root",
			files: map[string]string{"p/main.py": "print(1)\n"},
			setup: func(t *testing.T, root, _ string) {
				// d -> . makes "d/../../x" look local to a lexical check while it resolves
				// to the root's parent.
				symlink(t, ".", filepath.Join(root, "p", "d"))
				symlink(t, "d/../../../outside", filepath.Join(root, "p", "trick"))
			},
			want: []Problem{{Path: "p/trick", Message: `symlink to "d/../../../outside", which resolves outside the repository`}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			base := t.TempDir()
			root := filepath.Join(base, "repo")
			outside := filepath.Join(base, "outside")
			writeTree(t, outside, map[string]string{"secret": "s3cret\n", "latin1.py": "print('\xe9')\n", "bad.json": "{{{", "main.py": "print(1)\n"})
			writeTree(t, root, map[string]string{"ok/main.py": "print('ok')\n"})
			writeTree(t, root, tt.files)
			if tt.setup != nil {
				tt.setup(t, root, outside)
			}
			got, err := Discover(root)
			if err != nil {
				t.Fatal(err)
			}
			name := tt.pipeline
			if name == "" {
				name = "p"
			}
			byName := map[string]Pipeline{}
			for _, p := range got {
				byName[p.Name] = p
			}
			if ok := byName["ok"]; !ok.Valid() {
				t.Errorf("pipeline ok has problems: %v", ok.Problems)
			}
			p, found := byName[name]
			if !found {
				t.Fatalf("pipeline %q not discovered; got %v", name, got)
			}
			want := tt.want
			for i := range want {
				want[i].Message = strings.ReplaceAll(want[i].Message, "OUTSIDE", outside)
			}
			if want == nil {
				want = []Problem{}
			}
			if diff := cmp.Diff(want, p.Problems); diff != "" {
				t.Errorf("problems of %s (-want +got):\n%s", name, diff)
			}
			if p.Valid() != (len(want) == 0) {
				t.Errorf("Valid() = %v with %d problems", p.Valid(), len(want))
			}
		})
	}
}

func TestDiscoverFindsOnlyPipelines(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{
		"b/main.py":              "print(1)\n",
		"a/main.py":              "print(1)\n",
		"a/requirements.txt":     "six==1.16.0\n",
		"docs/index.md":          "# not a pipeline\n",
		".hidden/main.py":        "print(1)\n",
		".github/x/main.py":      "print(1)\n",
		"README.md":              "# repo\n",
		"main.py":                "print('top-level file, not a pipeline')\n",
		"nested/inner/main.py":   "print('only immediate sub-directories count')\n",
		"c/pipeline.json":        `{"timout": 1}`,
		"d/main.py":              "print(1)\n",
		"d/pipeline.json":        `{"enabled": false, "mem_hard_limit": "1g"}`,
		"target-of-link/main.py": "print(1)\n",
	})
	symlink(t, "target-of-link", filepath.Join(root, "alias"))
	got, err := Discover(root)
	if err != nil {
		t.Fatal(err)
	}
	f := false
	want := []Pipeline{
		{Name: "a", HasRequirements: true, RequirementsHash: "0da178fba21a6debdac12539bf4943dc2cac92493381edfeeb9f5bbea8a14b7e", Problems: []Problem{}},
		{Name: "alias", Problems: []Problem{}},
		{Name: "b", Problems: []Problem{}},
		{Name: "d", MetadataFile: "d/pipeline.json", Spec: schemas.Spec{Enabled: &f, MemHardLimit: 1 << 30}, Problems: []Problem{}},
		{Name: "target-of-link", Problems: []Problem{}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Discover (-want +got):\n%s", diff)
	}
}

func TestDiscoverRootErrors(t *testing.T) {
	if _, err := Discover(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("Discover of a missing root succeeded")
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Discover(file); err == nil {
		t.Error("Discover of a file succeeded")
	}
}

func TestDiscoverThroughRootSymlink(t *testing.T) {
	base := t.TempDir()
	writeTree(t, base, map[string]string{"revisions/abc/hello/main.py": "print(1)\n"})
	symlink(t, "revisions/abc", filepath.Join(base, "current"))
	symlink(t, "../hello/main.py", filepath.Join(base, "revisions", "abc", "hello", "again.py"))
	got, err := Discover(filepath.Join(base, "current"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Name != "hello" || !got[0].Valid() {
		t.Errorf("Discover through a root symlink = %+v", got)
	}
}

// TestDiscoverGolden pins the JSON that `fastflow validate --json` prints for a fixture
// repository holding valid and broken pipelines. Refresh with go test -run Golden -update.
func TestDiscoverGolden(t *testing.T) {
	got, err := Discover(filepath.Join("testdata", "discover", "repo"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, '\n')
	golden := filepath.Join("testdata", "discover", "repo.golden.json")
	if *update {
		if err := os.WriteFile(golden, out, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), string(out)); diff != "" {
		t.Errorf("Discover JSON differs from %s (-want +got):\n%s", golden, diff)
	}
}

func TestExamplesAreValid(t *testing.T) {
	got, err := Discover(filepath.Join("..", "examples", "pipelines"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range got {
		names = append(names, p.Name)
		if !p.Valid() {
			t.Errorf("example %s has problems: %v", p.Name, p.Problems)
		}
	}
	want := []string{"fails", "hello", "out-of-memory", "parameters", "scheduled", "with-requirements"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("example pipelines (-want +got):\n%s", diff)
	}
}

func TestWriteBrokenIsReported(t *testing.T) {
	root := t.TempDir()
	broken := repotest.WriteBroken(t, root)
	got, err := Discover(root)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]Pipeline{}
	for _, p := range got {
		byName[p.Name] = p
	}
	if !byName["ok"].Valid() {
		t.Errorf("ok: %v", byName["ok"].Problems)
	}
	for _, b := range broken {
		p := byName[b.Name]
		var msgs []string
		for _, pr := range p.Problems {
			msgs = append(msgs, pr.String())
		}
		if !strings.Contains(strings.Join(msgs, "\n"), b.Want) {
			t.Errorf("%s: problems %q do not mention %q", b.Name, msgs, b.Want)
		}
	}
}

func TestGenerateIsValid(t *testing.T) {
	root := t.TempDir()
	repotest.Generate(t, root, 60)
	got, err := Discover(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 60 {
		t.Fatalf("found %d pipelines, want 60", len(got))
	}
	var reqs, meta, scheds int
	for _, p := range got {
		if !p.Valid() {
			t.Errorf("%s: %v", p.Name, p.Problems)
		}
		if p.HasRequirements {
			reqs++
		}
		if p.MetadataFile != "" {
			meta++
		}
		if len(p.Spec.AllSchedules()) > 0 {
			scheds++
		}
	}
	if reqs == 0 || meta == 0 || scheds == 0 {
		t.Errorf("generated mix lacks variety: %d with requirements, %d with metadata, %d scheduled", reqs, meta, scheds)
	}
}

func TestProblemString(t *testing.T) {
	tests := []struct {
		p    Problem
		want string
	}{
		{Problem{Path: "a/pipeline.json", Pointer: "/timeout", Message: "m"}, "a/pipeline.json: /timeout: m"},
		{Problem{Path: "a", Message: "m"}, "a: m"},
	}
	for _, tt := range tests {
		if got := tt.p.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
}

func TestPipelineJSONHasEmptyProblems(t *testing.T) {
	b, err := json.Marshal(Pipeline{Name: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"problems":[]`)) {
		t.Errorf("JSON = %s, want problems as []", b)
	}
}

// TestFirstInvalidUTF8Line runs the streaming check with a buffer small enough that
// multi-byte characters straddle chunk boundaries.
func TestFirstInvalidUTF8Line(t *testing.T) {
	tests := []struct {
		in   string
		want int
	}{
		{"", 0},
		{"héllo\nwörld ✓ 𝄞\n", 0},
		{"ok\nok\n\xff", 3},
		{"ok\n✓✓✓✓\nbad \xe2\x9c\n", 3},
		{"truncated at end \xe2\x9c", 1},
		{"\n\n\n\n\n\n\n\n\xc3\x28", 9},
	}
	for _, tt := range tests {
		for _, size := range []int{4, 5, 7, 64} {
			got, err := firstInvalidUTF8Line(iotest.OneByteReader(strings.NewReader(tt.in)), nil, make([]byte, size))
			if err != nil || got != tt.want {
				t.Errorf("firstInvalidUTF8Line(%q, buf %d) = %d, %v; want %d", tt.in, size, got, err, tt.want)
			}
			got, err = firstInvalidUTF8Line(strings.NewReader(tt.in), nil, make([]byte, size))
			if err != nil || got != tt.want {
				t.Errorf("firstInvalidUTF8Line(%q, buf %d, whole reads) = %d, %v; want %d", tt.in, size, got, err, tt.want)
			}
		}
	}
}
