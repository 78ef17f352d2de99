package repo

import "time"

// Snapshot is one published revision of the pipelines repository: the commit
// it came from, where its tree lives on disk, and what discovery found in it.
// A Snapshot is immutable once published; callers share it without copying.
type Snapshot struct {
	// Revision is the full commit SHA.
	Revision string `json:"revision"`
	// Branch is the branch the commit was the tip of when it was synced.
	Branch string `json:"branch"`
	// Dir is the absolute path of revisions/<sha>. Runs mount this concrete
	// directory, never PIPELINES_DIR, so a later sync cannot change the files
	// a running pipeline sees.
	Dir           string    `json:"dir"`
	CommitMessage string    `json:"commit_message"`
	CommitAuthor  string    `json:"commit_author"`
	CommittedAt   time.Time `json:"committed_at"`
	// Pipelines is sorted by name.
	Pipelines []Pipeline `json:"pipelines"`
	// Problems are findings that belong to no single pipeline, such as a
	// symlink at the top of the repository that points outside it.
	Problems []Problem `json:"problems"`
}

// Pipeline returns the pipeline called name.
func (s *Snapshot) Pipeline(name string) (Pipeline, bool) {
	for _, p := range s.Pipelines {
		if p.Name == name {
			return p, true
		}
	}
	return Pipeline{}, false
}

// ProblemCount counts every problem in the snapshot, repository-level and
// per-pipeline.
func (s *Snapshot) ProblemCount() int {
	n := len(s.Problems)
	for _, p := range s.Pipelines {
		n += len(p.Problems)
	}
	return n
}

// ShortRevision is the first 12 characters of the revision, for logs and UI.
func (s *Snapshot) ShortRevision() string { return ShortSHA(s.Revision) }

// ShortSHA abbreviates a commit or container ID to 12 characters, enough
// to be unique in practice and short enough for a log line.
func ShortSHA(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
