package operator

import (
	"github.com/fastflow-dev/fastflow/repo"
	"github.com/fastflow-dev/fastflow/status"
	"github.com/fastflow-dev/fastflow/status/checks"
	"github.com/fastflow-dev/fastflow/status/logs"
)

// checkRunTail is how many log lines a finished run's check run shows.
const checkRunTail = 50

// reportValidation sends the fastflow/validate check run of a published
// revision. Reporting is queued: it never delays the sync.
func (o *Operator) reportValidation(snap *repo.Snapshot) {
	if o.cfg.Checks == nil || snap == nil {
		return
	}
	var problems []checks.Problem
	add := func(p repo.Problem) {
		msg := p.Message
		if p.Pointer != "" {
			msg = p.Pointer + ": " + msg
		}
		problems = append(problems, checks.Problem{Path: p.Path, Message: msg})
	}
	for _, p := range snap.Problems {
		add(p)
	}
	for _, pl := range snap.Pipelines {
		for _, p := range pl.Problems {
			add(p)
		}
	}
	o.cfg.Checks.Validation(snap.Revision, problems)
}

// reportRunStarted and reportRunFinished mirror a run as a check run on
// its revision; the tail of the log is read from the file, which holds
// masked lines only.
func (o *Operator) reportRunStarted(run status.Run) {
	o.cfg.Checks.RunStarted(run)
}

func (o *Operator) reportRunFinished(run status.Run) {
	if o.cfg.Checks == nil {
		return
	}
	var tail []string
	if lines, err := logs.Tail(run.LogPath, checkRunTail); err == nil {
		for _, l := range lines {
			tail = append(tail, l.Text)
		}
	}
	o.cfg.Checks.RunFinished(run, tail)
}
