package repo

// Problem is one validation finding, addressed like a compiler error.
type Problem struct {
	Path    string `json:"path"`    // slash-separated, relative to the discovered root, e.g. "hello/pipeline.json"
	Pointer string `json:"pointer"` // RFC 6901 JSON pointer into Path, "" when about the whole file
	Message string `json:"message"`
}

// String formats the problem as "path: pointer: message", leaving the pointer out when it
// is empty, the way `fastflow validate` prints it.
func (p Problem) String() string {
	if p.Pointer == "" {
		return p.Path + ": " + p.Message
	}
	return p.Path + ": " + p.Pointer + ": " + p.Message
}
