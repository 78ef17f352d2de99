package checks

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/go-github/v62/github"

	"github.com/fastflow-dev/fastflow/status"
)

const (
	validateCheckName = "fastflow/validate"
	// maxOutputChars is GitHub's limit for a check run's summary and text;
	// longer output fails the whole request with 422.
	maxOutputChars = 65535
	// maxMessageChars keeps an annotation message under GitHub's 64 KB.
	maxMessageChars = 60000
)

func runCheckName(run status.Run) string { return "fastflow/" + run.Pipeline }

// conclusionFor maps a final run status to a check run conclusion.
// INTERRUPTED becomes cancelled: the run was stopped from outside (shutdown,
// vanished container) rather than failing on its own, and the summary says
// which.
func conclusionFor(s status.RunStatus) string {
	switch s {
	case status.RunSuccess:
		return "success"
	case status.RunCancelled, status.RunInterrupted:
		return "cancelled"
	case status.RunTimeout:
		return "timed_out"
	}
	return "failure"
}

func validationConclusion(problems []Problem) string {
	if len(problems) == 0 {
		return "success"
	}
	return "failure"
}

// validationBatches splits the annotations into requests of at most 50.
// There is always at least one batch: the one that creates the check run.
func validationBatches(problems []Problem) [][]*github.CheckRunAnnotation {
	var all []*github.CheckRunAnnotation
	for _, p := range problems {
		if p.Path == "" {
			continue
		}
		line := max(p.Line, 1)
		all = append(all, &github.CheckRunAnnotation{
			Path:            github.String(p.Path),
			StartLine:       github.Int(line),
			EndLine:         github.Int(line),
			AnnotationLevel: github.String("failure"),
			Message:         github.String(truncate(p.Message, maxMessageChars)),
		})
	}
	if len(all) == 0 {
		return [][]*github.CheckRunAnnotation{nil}
	}
	var batches [][]*github.CheckRunAnnotation
	for len(all) > 0 {
		n := min(len(all), maxAnnotations)
		batches = append(batches, all[:n:n])
		all = all[n:]
	}
	return batches
}

// validationOutput is the output of one validation request. Title and
// summary repeat on every batch because GitHub requires them whenever an
// output is sent; the annotations are appended to the earlier ones.
func validationOutput(sha string, problems []Problem, batch []*github.CheckRunAnnotation) *github.CheckRunOutput {
	out := &github.CheckRunOutput{Annotations: batch}
	if len(problems) == 0 {
		out.Title = github.String("All pipelines are valid")
		out.Summary = github.String(fmt.Sprintf("Fast-Flow found no problems in the pipeline definitions at `%s`.", short(sha)))
		return out
	}
	files := map[string]bool{}
	for _, p := range problems {
		files[p.Path] = true
	}
	out.Title = github.String(plural(len(problems), "problem"))
	var b strings.Builder
	fmt.Fprintf(&b, "Fast-Flow found %s in %s at `%s`. A broken pipeline does not run; the others are unaffected.\n\n",
		plural(len(problems), "problem"), plural(len(files), "file"), short(sha))
	for i, p := range problems {
		line := "- " + location(p) + ": " + oneLine(p.Message) + "\n"
		if b.Len()+len(line) > maxOutputChars-100 {
			fmt.Fprintf(&b, "- … and %d more\n", len(problems)-i)
			break
		}
		b.WriteString(line)
	}
	out.Summary = github.String(b.String())
	return out
}

func location(p Problem) string {
	switch {
	case p.Path == "":
		return "(repository)"
	case p.Line > 0:
		return "`" + p.Path + ":" + strconv.Itoa(p.Line) + "`"
	}
	return "`" + p.Path + "`"
}

func runningSummary(run status.Run) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Run `%s` of pipeline `%s` is running.", run.ID, run.Pipeline)
	if run.Trigger != "" {
		fmt.Fprintf(&b, " Trigger: %s", run.Trigger)
		if run.TriggeredBy != "" {
			fmt.Fprintf(&b, " by %s", run.TriggeredBy)
		}
		b.WriteString(".")
	}
	if run.Attempt > 1 {
		fmt.Fprintf(&b, " Attempt %d.", run.Attempt)
	}
	return b.String()
}

// finishedOutput describes a finished run: a one-line title, the facts as a
// list, and the log tail in a code block.
func finishedOutput(run status.Run, logTail []string) *github.CheckRunOutput {
	title := string(run.Status)
	if run.ErrorType != "" {
		title += ": " + string(run.ErrorType)
	}
	if run.ExitCode != nil {
		title += fmt.Sprintf(" (exit code %d)", *run.ExitCode)
	}
	if d := run.Duration(); d > 0 {
		title += " after " + formatDuration(d)
	}

	var b strings.Builder
	fmt.Fprintf(&b, "- **Status:** %s\n", run.Status)
	if run.ErrorType != "" {
		fmt.Fprintf(&b, "- **Error type:** %s\n", run.ErrorType)
	}
	if run.ExitCode != nil {
		fmt.Fprintf(&b, "- **Exit code:** %d\n", *run.ExitCode)
	}
	if d := run.Duration(); d > 0 {
		fmt.Fprintf(&b, "- **Duration:** %s\n", formatDuration(d))
	}
	fmt.Fprintf(&b, "- **Run:** `%s`", run.ID)
	if run.Attempt > 1 {
		fmt.Fprintf(&b, " (attempt %d)", run.Attempt)
	}
	b.WriteString("\n")
	if run.Message != "" {
		fmt.Fprintf(&b, "- **Message:** %s\n", oneLine(run.Message))
	}
	out := &github.CheckRunOutput{
		Title:   github.String(title),
		Summary: github.String(truncate(b.String(), maxOutputChars)),
	}
	if text := logText(logTail); text != "" {
		out.Text = github.String(text)
	}
	return out
}

// logText puts the last lines of the log in a fenced code block. The fence
// is longer than any backtick run in the log, so a log cannot close it and
// inject markdown; lines are dropped from the top until it fits GitHub's
// limit.
func logText(lines []string) string {
	if len(lines) > maxLogLines {
		lines = lines[len(lines)-maxLogLines:]
	}
	if len(lines) == 0 {
		return ""
	}
	longest := 0
	for _, l := range lines {
		run := 0
		for _, c := range l {
			if c == '`' {
				run++
				longest = max(longest, run)
			} else {
				run = 0
			}
		}
	}
	fence := strings.Repeat("`", max(3, longest+1))
	for {
		head := fmt.Sprintf("Last %s of the log:\n\n%s\n", plural(len(lines), "line"), fence)
		body := strings.Join(lines, "\n")
		tail := "\n" + fence + "\n"
		if len(head)+len(body)+len(tail) <= maxOutputChars {
			return head + body + tail
		}
		if len(lines) == 1 {
			// One huge line: keep its end, which is where errors are.
			room := maxOutputChars - len(head) - len(tail) - len("…")
			cut := len(body) - room
			for cut < len(body) && !utf8.RuneStart(body[cut]) {
				cut++
			}
			return head + "…" + body[cut:] + tail
		}
		lines = lines[1:]
	}
}

func formatDuration(d time.Duration) string {
	if d < time.Minute {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

// oneLine keeps a message inside its markdown list item.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// truncate cuts s to at most n bytes on a rune boundary. Bytes bound
// GitHub's character limits from above.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
