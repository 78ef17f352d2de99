package webui

import "embed"

// content holds the web UI's templates and static assets, so the binary
// needs no files beside it.
//
//go:embed templates static
var content embed.FS
