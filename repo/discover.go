package repo

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/fastflow-dev/fastflow/schemas"
)

// MaxMetadataSize is the largest pipeline.json discovery reads. Metadata is a few hundred
// bytes; anything near this size is a mistake, and refusing it bounds memory per pipeline.
const MaxMetadataSize = 1 << 20

// Well-known file names inside a pipeline directory.
const (
	MainFile         = "main.py"
	RequirementsFile = "requirements.txt"
	MetadataFile     = "pipeline.json"
)

// pipelineNameRE is the name rule of issue 2: it keeps names safe as path segments, Docker
// label values and URL segments.
var pipelineNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// Pipeline is one pipeline directory as discovery found it.
//
// Spec holds the decoded metadata when it is valid and the zero Spec otherwise (absent or
// broken metadata); a zero Spec means every default of DESIGN.md, read through its accessor
// methods (IsEnabled is true for the zero Spec).
type Pipeline struct {
	Name             string       `json:"name"`
	MetadataFile     string       `json:"metadata_file,omitempty"` // relative path, "" if none
	Spec             schemas.Spec `json:"spec"`
	HasRequirements  bool         `json:"has_requirements"`
	RequirementsHash string       `json:"requirements_hash,omitempty"` // hex sha256 of requirements.txt
	Problems         []Problem    `json:"problems"`                    // never nil in JSON ([])
}

// Valid reports whether the pipeline has no problems and may run.
func (p Pipeline) Valid() bool { return len(p.Problems) == 0 }

// MarshalJSON writes Problems as [] rather than null when there are none, so API clients
// can iterate without a nil check.
func (p Pipeline) MarshalJSON() ([]byte, error) {
	type plain Pipeline
	if p.Problems == nil {
		p.Problems = []Problem{}
	}
	return json.Marshal(plain(p))
}

// DiscoverOptions tunes DiscoverContext. The zero value is what Discover uses.
type DiscoverOptions struct {
	// Workers bounds how many pipelines are inspected at once; 0 means GOMAXPROCS.
	Workers int
	// Validator checks the metadata; nil means schemas.DefaultValidator.
	Validator *schemas.Validator
}

// Discover finds every pipeline under root. Only an unreadable root is an error;
// every problem inside a pipeline is reported on that pipeline. Result sorted by Name.
func Discover(root string) ([]Pipeline, error) {
	return DiscoverContext(context.Background(), root, DiscoverOptions{})
}

// DiscoverContext is Discover with cancellation and options.
//
// An immediate sub-directory of root holding a main.py is a pipeline named after the
// directory; other directories are ignored, and hidden ones (".git", ".github") are not
// even looked into. Nothing is read through a symlink that leaves root: such links are
// reported as problems, whether the pipeline directory itself or any entry below it.
func DiscoverContext(ctx context.Context, root string, opts DiscoverOptions) ([]Pipeline, error) {
	v := opts.Validator
	if v == nil {
		var err error
		if v, err = schemas.DefaultValidator(); err != nil {
			return nil, fmt.Errorf("load pipeline schema: %w", err)
		}
	}
	// Resolve root once so that containment checks compare real paths; PIPELINES_DIR is
	// itself a symlink to the live revision.
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", root, err)
	}
	entries, err := os.ReadDir(realRoot)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", root, err)
	}
	d := &discoverer{root: realRoot, validator: v}
	var cands []candidate
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		switch {
		case e.IsDir():
			cands = append(cands, candidate{name: name, dir: filepath.Join(realRoot, name)})
		case e.Type()&fs.ModeSymlink != 0:
			if c, ok := d.linkedCandidate(name); ok {
				cands = append(cands, c)
			}
		}
	}

	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = min(workers, len(cands))
	results := make([]Pipeline, len(cands))
	found := make([]bool, len(cands))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var s scratch
			for {
				i := int(next.Add(1) - 1)
				if i >= len(cands) || ctx.Err() != nil {
					return
				}
				results[i], found[i] = d.inspect(cands[i], &s)
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("discover %s: %w", root, err)
	}
	// ReadDir sorts by name, so results are already in Name order.
	out := make([]Pipeline, 0, len(cands))
	for i, p := range results {
		if found[i] {
			out = append(out, p)
		}
	}
	return out, nil
}

type candidate struct {
	name string
	dir  string // real path of the directory to inspect
	// escape, when set, is why the candidate is a symlink that must not be followed.
	escape string
}

type discoverer struct {
	root      string
	validator *schemas.Validator
}

// linkedCandidate handles a symlink directly under root. A link to a directory inside the
// repository is a pipeline like any other; a link leaving it is reported without looking
// inside, since even listing it would read the host.
func (d *discoverer) linkedCandidate(name string) (candidate, bool) {
	if msg := d.linkEscape(name); msg != "" {
		fi, err := os.Stat(filepath.Join(d.root, name))
		if err != nil || !fi.IsDir() {
			return candidate{}, false
		}
		return candidate{name: name, escape: "pipeline directory is a " + msg}, true
	}
	real, err := filepath.EvalSymlinks(filepath.Join(d.root, name))
	if err != nil {
		return candidate{}, false
	}
	fi, err := os.Stat(real)
	if err != nil || !fi.IsDir() {
		return candidate{}, false
	}
	return candidate{name: name, dir: real}, true
}

// linkEscape returns "" when the symlink at rel (slash path under root) stays inside the
// root, and otherwise a description of the problem starting with "symlink".
func (d *discoverer) linkEscape(rel string) string {
	target, err := os.Readlink(filepath.Join(d.root, filepath.FromSlash(rel)))
	if err != nil {
		return fmt.Sprintf("symlink that cannot be read: %v", err)
	}
	if path.IsAbs(filepath.ToSlash(target)) {
		return fmt.Sprintf("symlink to the absolute path %q; only relative links that stay inside the repository are allowed", target)
	}
	if symlinkEscapes(rel, filepath.ToSlash(target), d.readLink) {
		return fmt.Sprintf("symlink to %q, which resolves outside the repository", target)
	}
	return ""
}

func (d *discoverer) readLink(rel string) (string, bool) {
	p := filepath.Join(d.root, filepath.FromSlash(rel))
	fi, err := os.Lstat(p)
	if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		return "", false
	}
	t, err := os.Readlink(p)
	if err != nil {
		return "", false
	}
	return filepath.ToSlash(t), true
}

// inspect examines one candidate; false means it is not a pipeline (no main.py).
// scratch is per-worker memory reused across pipelines, so that discovering a thousand
// pipelines does not allocate a thousand read buffers.
type scratch struct {
	buf []byte
}

// inspection collects what inspect learns about one pipeline.
type inspection struct {
	c       candidate
	p       Pipeline
	entries map[string]fs.FileMode // type bits of the pipeline directory's own entries
	unsafe  map[string]bool        // entries (relative to the pipeline) that are escaping links
}

func (in *inspection) report(rel, pointer, msg string) {
	in.p.Problems = append(in.p.Problems, Problem{Path: rel, Pointer: pointer, Message: msg})
}

// inspect examines one candidate; false means it is not a pipeline (no main.py).
func (d *discoverer) inspect(c candidate, s *scratch) (Pipeline, bool) {
	in := &inspection{c: c, p: Pipeline{Name: c.name, Problems: []Problem{}}}
	if c.escape != "" {
		in.report(c.name, "", c.escape)
		return in.p, true
	}
	top, err := os.ReadDir(c.dir)
	if err != nil {
		in.report(c.name, "", fmt.Sprintf("cannot read: %v", err))
		return in.p, true
	}
	in.entries = make(map[string]fs.FileMode, len(top))
	for _, e := range top {
		in.entries[e.Name()] = e.Type()
	}
	if _, ok := in.entries[MainFile]; !ok {
		return Pipeline{}, false
	}
	if !pipelineNameRE.MatchString(c.name) {
		in.report(c.name, "", fmt.Sprintf("invalid pipeline name %q: use 1 to 64 letters, digits, \"_\", \".\" or \"-\", starting with a letter or digit", c.name))
	}
	rootRel, _ := filepath.Rel(d.root, c.dir)
	d.checkLinks(in, filepath.ToSlash(rootRel), "", top)

	if d.readable(in, MainFile) {
		if msg := checkTextFile(filepath.Join(c.dir, MainFile), nil, s); msg != "" {
			in.report(c.name+"/"+MainFile, "", msg)
		}
	}
	d.requirements(in, s)
	d.metadata(in, s)
	sortProblems(in.p.Problems)
	return in.p, true
}

// checkLinks walks the pipeline directory without following links and records every
// symlink whose target leaves the root. dir is the slash path below the pipeline ("" for
// the pipeline itself) and entries its listing.
func (d *discoverer) checkLinks(in *inspection, rootRel, dir string, entries []fs.DirEntry) {
	for _, e := range entries {
		rel := path.Join(dir, e.Name())
		switch {
		case e.Type()&fs.ModeSymlink != 0:
			if msg := d.linkEscape(path.Join(rootRel, rel)); msg != "" {
				if in.unsafe == nil {
					in.unsafe = map[string]bool{}
				}
				in.unsafe[rel] = true
				in.report(in.c.name+"/"+rel, "", msg)
			}
		case e.IsDir():
			sub, err := os.ReadDir(filepath.Join(in.c.dir, filepath.FromSlash(rel)))
			if err != nil {
				in.report(in.c.name+"/"+rel, "", fmt.Sprintf("cannot read: %v", err))
			}
			d.checkLinks(in, rootRel, rel, sub)
		}
	}
}

// readable reports whether the top-level entry name exists and may be opened: it is not
// a link leaving the root, and it is a regular file (or a link inside the root).
func (d *discoverer) readable(in *inspection, name string) bool {
	mode, ok := in.entries[name]
	if !ok || in.unsafe[name] {
		return false
	}
	// Opening a FIFO or device would block or read something that is not a file.
	if mode&fs.ModeSymlink == 0 && !mode.IsRegular() {
		in.report(in.c.name+"/"+name, "", "not a regular file")
		return false
	}
	return true
}

func (d *discoverer) requirements(in *inspection, s *scratch) {
	if _, ok := in.entries[RequirementsFile]; !ok {
		return
	}
	in.p.HasRequirements = true
	if !d.readable(in, RequirementsFile) {
		return
	}
	h := sha256.New()
	if msg := checkTextFile(filepath.Join(in.c.dir, RequirementsFile), h, s); msg != "" {
		in.report(in.c.name+"/"+RequirementsFile, "", msg)
		return
	}
	in.p.RequirementsHash = hex.EncodeToString(h.Sum(nil))
}

func (d *discoverer) metadata(in *inspection, s *scratch) {
	named := in.c.name + ".json"
	file := ""
	if _, ok := in.entries[named]; ok {
		file = named
	}
	if _, ok := in.entries[MetadataFile]; ok {
		if file != "" && file != MetadataFile {
			in.report(in.c.name+"/"+named, "", fmt.Sprintf("both %s and %s exist; keep only one (%s is used)", MetadataFile, named, MetadataFile))
		}
		file = MetadataFile
	}
	if file == "" {
		return
	}
	rel := in.c.name + "/" + file
	in.p.MetadataFile = rel
	if !d.readable(in, file) {
		return
	}
	data, msg := readLimited(filepath.Join(in.c.dir, file), MaxMetadataSize, s)
	if msg != "" {
		in.report(rel, "", msg)
		return
	}
	spec, violations := d.validator.Check(data)
	for _, v := range violations {
		in.report(rel, v.Pointer, v.Message)
	}
	if len(violations) == 0 {
		in.p.Spec = spec
	}
}

// readLimited reads a regular file of at most limit bytes. It reads through a
// LimitReader rather than trusting a size from stat, so a huge file costs limit bytes at
// most. The returned slice aliases the scratch buffer and is valid until its next use.
func readLimited(name string, limit int64, s *scratch) ([]byte, string) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Sprintf("cannot read: %v", err)
	}
	defer f.Close()
	buf := bytes.NewBuffer(s.buf[:0])
	if _, err := buf.ReadFrom(io.LimitReader(f, limit+1)); err != nil {
		if isDirError(err) {
			return nil, "not a regular file"
		}
		return nil, fmt.Sprintf("cannot read: %v", err)
	}
	if int64(buf.Len()) > limit {
		return nil, fmt.Sprintf("file is larger than %d KiB; metadata must stay small", limit>>10)
	}
	s.buf = buf.Bytes()[:0]
	return buf.Bytes(), ""
}

// isDirError reports whether err is the EISDIR a read of a directory gives.
func isDirError(err error) bool {
	var pe *fs.PathError
	return errors.As(err, &pe) && strings.Contains(pe.Err.Error(), "is a directory")
}

// checkTextFile streams a file, feeding it to h when h is not nil, and returns a problem
// message when it is not UTF-8 text.
func checkTextFile(name string, h hash.Hash, s *scratch) string {
	f, err := os.Open(name)
	if err != nil {
		return fmt.Sprintf("cannot read: %v", err)
	}
	defer f.Close()
	if cap(s.buf) < 32<<10 {
		s.buf = make([]byte, 32<<10)
	}
	line, err := firstInvalidUTF8Line(f, h, s.buf[:cap(s.buf)])
	if err != nil {
		if isDirError(err) {
			return "not a regular file"
		}
		return fmt.Sprintf("cannot read: %v", err)
	}
	if line > 0 {
		return fmt.Sprintf("not valid UTF-8 text (first invalid byte on line %d); save the file as UTF-8", line)
	}
	return ""
}

// firstInvalidUTF8Line returns the 1-based line of the first byte that is not part of a
// valid UTF-8 sequence, or 0 when all of r is valid. It reads in chunks of len(buf) so
// that large files cost no memory, carrying an incomplete sequence from one chunk to the
// next.
func firstInvalidUTF8Line(r io.Reader, h hash.Hash, buf []byte) (int, error) {
	carry, lines := 0, 1
	for {
		n, rerr := r.Read(buf[carry:])
		if h != nil && n > 0 {
			h.Write(buf[carry : carry+n])
		}
		data := buf[:carry+n]
		atEOF := rerr != nil
		done := len(data)
		if !utf8.Valid(data) {
			for i := 0; i < len(data); {
				if data[i] < utf8.RuneSelf {
					i++
					continue
				}
				if !atEOF && !utf8.FullRune(data[i:]) {
					done = i
					break
				}
				c, size := utf8.DecodeRune(data[i:])
				if c == utf8.RuneError && size == 1 {
					return lines + bytes.Count(data[:i], []byte{'\n'}), nil
				}
				i += size
			}
		}
		lines += bytes.Count(data[:done], []byte{'\n'})
		carry = copy(buf, data[done:])
		if rerr == io.EOF {
			return 0, nil
		}
		if rerr != nil {
			return 0, rerr
		}
	}
}

func sortProblems(ps []Problem) {
	// Stable so that messages about one pointer keep the order they were found in.
	slices.SortStableFunc(ps, func(a, b Problem) int {
		return cmp.Or(cmp.Compare(a.Path, b.Path), cmp.Compare(a.Pointer, b.Pointer))
	})
}
