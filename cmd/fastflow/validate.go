package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/fastflow-dev/fastflow/repo"
)

// validateReport is what `validate --json` prints.
type validateReport struct {
	Root      string          `json:"root"`
	Valid     bool            `json:"valid"`
	Problems  int             `json:"problems"`
	Pipelines []repo.Pipeline `json:"pipelines"`
}

// validate checks a pipelines repository the way a sync would, offline: no
// database, Docker or network. Exit status 1 means at least one problem, so
// it drops into a CI job or a pre-commit hook as it is.
func validate(args []string, stdout, stderr io.Writer) error {
	dir, asJSON := ".", false
	var dirs []string
	for _, a := range args {
		switch {
		case a == "--json" || a == "-json":
			asJSON = true
		case strings.HasPrefix(a, "-"):
			return fmt.Errorf("%w: unknown flag %s", errUsage, a)
		default:
			dirs = append(dirs, a)
		}
	}
	if len(dirs) > 1 {
		return fmt.Errorf("%w: validate takes one directory", errUsage)
	}
	if len(dirs) == 1 {
		dir = dirs[0]
	}

	pipelines, err := repo.Discover(dir)
	if err != nil {
		return err
	}
	report := validateReport{Root: dir, Valid: true, Pipelines: pipelines}
	invalid := 0
	for _, p := range pipelines {
		report.Problems += len(p.Problems)
		if !p.Valid() {
			invalid++
		}
	}
	report.Valid = report.Problems == 0

	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(report); err != nil {
			return fmt.Errorf("write report: %w", err)
		}
	} else {
		for _, p := range pipelines {
			for _, prob := range p.Problems {
				fmt.Fprintln(stdout, prob.String())
			}
		}
		if report.Valid {
			fmt.Fprintf(stderr, "%s: %d pipelines, all valid\n", dir, len(pipelines))
		} else {
			fmt.Fprintf(stderr, "%s: %d problems in %d of %d pipelines\n", dir, report.Problems, invalid, len(pipelines))
		}
	}
	if !report.Valid {
		return exitError{1}
	}
	return nil
}
