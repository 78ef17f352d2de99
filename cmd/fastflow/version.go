package main

import (
	"fmt"
	"io"
	"runtime/debug"

	"github.com/fastflow-dev/fastflow/status/sqlstore"
)

// Set at link time by the image build (-ldflags "-X main.buildVersion=…"),
// where the build context has no .git for the Go toolchain to read; empty in
// a plain `go build`, which stamps the VCS revision instead. Never assigned
// at run time.
var (
	buildVersion string
	buildCommit  string
)

// buildInfo is what `fastflow version` prints: the release (or "devel"),
// the commit, and the newest schema the binary migrates to.
type buildInfo struct {
	Version, Commit string
	Modified        bool
	Schema          int64
}

func readBuildInfo() buildInfo {
	b := buildInfo{Version: buildVersion, Commit: buildCommit, Schema: sqlstore.LatestSchemaVersion()}
	if info, ok := debug.ReadBuildInfo(); ok {
		if v := info.Main.Version; b.Version == "" && v != "" && v != "(devel)" {
			b.Version = v
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				if b.Commit == "" {
					b.Commit = s.Value
				}
			case "vcs.modified":
				b.Modified = s.Value == "true"
			}
		}
	}
	if b.Version == "" {
		b.Version = "devel"
	}
	if b.Commit == "" {
		b.Commit = "unknown"
	}
	return b
}

func versionCmd(args []string, stdout io.Writer) error {
	if len(args) > 0 {
		return fmt.Errorf("%w: version takes no arguments", errUsage)
	}
	b := readBuildInfo()
	commit := b.Commit
	if b.Modified {
		commit += " (modified)"
	}
	fmt.Fprintf(stdout, "fastflow %s\ncommit   %s\nschema   %d\n", b.Version, commit, b.Schema)
	return nil
}
