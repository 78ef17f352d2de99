package runtimetest

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Program is what one of the suite's containers does, step by step. The
// suite describes its containers as Programs rather than as shell scripts
// so that a backend without a shell, the in-memory fake, runs the same
// suite: Config.Command renders a Program into the container's command, and
// Shell, the default, into a POSIX sh script.
type Program []Step

// Op names what a Step does.
type Op string

// The operations of a Step; the constructors document each.
const (
	OpPrint               Op = "print"
	OpPrintWorkDir        Op = "print-workdir"
	OpCat                 Op = "cat"
	OpTryWrite            Op = "try-write"
	OpWrite               Op = "write"
	OpPrintMemLimit       Op = "print-mem-limit"
	OpPrintMilliCPUs      Op = "print-millicpus"
	OpHold                Op = "hold"
	OpPrintHeld           Op = "print-held"
	OpSleep               Op = "sleep"
	OpForever             Op = "forever"
	OpExit                Op = "exit"
	OpAllocateBeyondLimit Op = "allocate-beyond-limit"
	OpTrapTERM            Op = "trap-term"
	OpIgnoreTERM          Op = "ignore-term"
	OpMissingCommand      Op = "missing-command"
)

// Step is one instruction of a Program. A renderer reads the fields its Op
// uses.
type Step struct {
	Op Op
	// Stream is "stdout" or "stderr" (Print).
	Stream string
	// Text is the line Print and Write write, or the prefix the probing
	// steps print their answer after.
	Text string
	// NoNewline: Print leaves the line unterminated.
	NoNewline bool
	// Path is the file of Cat, TryWrite and Write.
	Path string
	// Code is the exit code of Exit and TrapTERM.
	Code int
	// Lines are printed by TrapTERM's handler.
	Lines []string
	// Delay is the time Sleep waits.
	Delay time.Duration
	// Bytes is what Hold holds.
	Bytes int
}

// Print writes text and a newline to stream ("stdout" or "stderr"). In
// text, $NAME and ${NAME} expand to environment variables, as in a shell's
// double quotes; text uses $ for nothing else and holds no backslash, which
// some shells' echo interprets.
func Print(stream, text string) Step { return Step{Op: OpPrint, Stream: stream, Text: text} }

// PrintPartial writes text to stream without a newline: an unterminated
// last line.
func PrintPartial(stream, text string) Step {
	return Step{Op: OpPrint, Stream: stream, Text: text, NoNewline: true}
}

// PrintWorkDir prints prefix followed by the working directory.
func PrintWorkDir(prefix string) Step { return Step{Op: OpPrintWorkDir, Text: prefix} }

// Cat prints the file at path.
func Cat(path string) Step { return Step{Op: OpCat, Path: path} }

// TryWrite tries to create the file at path and prints prefix followed by
// "writable" or "denied".
func TryWrite(path, prefix string) Step { return Step{Op: OpTryWrite, Path: path, Text: prefix} }

// Write writes line and a newline to the file at path.
func Write(path, line string) Step { return Step{Op: OpWrite, Path: path, Text: line} }

// PrintMemLimit prints prefix followed by the container's memory limit in
// bytes, as its cgroup reads.
func PrintMemLimit(prefix string) Step { return Step{Op: OpPrintMemLimit, Text: prefix} }

// PrintMilliCPUs prints prefix followed by the container's CPU limit in
// thousandths of a CPU, as its cgroup reads.
func PrintMilliCPUs(prefix string) Step { return Step{Op: OpPrintMilliCPUs, Text: prefix} }

// Hold makes the container hold a string of n bytes in memory from now on.
func Hold(n int) Step { return Step{Op: OpHold, Bytes: n} }

// PrintHeld prints the length of the string Hold holds.
func PrintHeld() Step { return Step{Op: OpPrintHeld} }

// Sleep waits d.
func Sleep(d time.Duration) Step { return Step{Op: OpSleep, Delay: d} }

// Forever runs until the container is stopped or killed, without output,
// reacting to a signal within a tenth of a second.
func Forever() Step { return Step{Op: OpForever} }

// Exit ends the container with code.
func Exit(code int) Step { return Step{Op: OpExit, Code: code} }

// AllocateBeyondLimit allocates memory without end, so the container
// crosses its memory limit and is OOM-killed.
func AllocateBeyondLimit() Step { return Step{Op: OpAllocateBeyondLimit} }

// TrapTERM makes SIGTERM print lines and exit with code.
func TrapTERM(code int, lines ...string) Step {
	return Step{Op: OpTrapTERM, Code: code, Lines: lines}
}

// IgnoreTERM makes the container ignore SIGTERM.
func IgnoreTERM() Step { return Step{Op: OpIgnoreTERM} }

// MissingCommand is a command that does not exist. It is a Program's only
// step: the container's command itself cannot be executed, which the
// backend reports as exit code 127.
func MissingCommand() Step { return Step{Op: OpMissingCommand} }

// missingCommand is the path Shell runs for MissingCommand.
const missingCommand = "/nonexistent/command"

// Shell renders p as `sh -c <script>` for an image with a POSIX shell and
// busybox-style tools (cat, head, tail, tr, sleep). The memory and CPU
// limits are read from cgroup v1 or v2 files. A Program of MissingCommand
// alone renders as a command that does not exist.
func Shell(p Program) []string {
	if len(p) == 1 && p[0].Op == OpMissingCommand {
		return []string{missingCommand}
	}
	var b strings.Builder
	for _, s := range p {
		b.WriteString(shellStep(s))
		b.WriteByte('\n')
	}
	return []string{"sh", "-c", b.String()}
}

func shellStep(s Step) string {
	switch s.Op {
	case OpPrint:
		cmd := "echo " + dquote(s.Text)
		if s.NoNewline {
			cmd = "printf '%s' " + dquote(s.Text)
		}
		if s.Stream == "stderr" {
			cmd += " >&2"
		}
		return cmd
	case OpPrintWorkDir:
		return `echo ` + dquote(s.Text) + `"$(pwd)"`
	case OpCat:
		return "cat " + squote(s.Path)
	case OpTryWrite:
		return fmt.Sprintf(`if (echo x > %s) 2>/dev/null; then echo %s; else echo %s; fi`,
			squote(s.Path), dquote(s.Text+"writable"), dquote(s.Text+"denied"))
	case OpWrite:
		return "echo " + dquote(s.Text) + " > " + squote(s.Path)
	case OpPrintMemLimit:
		return `mem=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max)
echo ` + dquote(s.Text) + `"$mem"`
	case OpPrintMilliCPUs:
		return `if [ -r /sys/fs/cgroup/cpu.max ]; then read q p < /sys/fs/cgroup/cpu.max
else q=$(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us); p=$(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us); fi
echo ` + dquote(s.Text) + `"$((q * 1000 / p))"`
	case OpHold:
		return fmt.Sprintf(`held=$(head -c %d /dev/zero | tr '\0' a)`, s.Bytes)
	case OpPrintHeld:
		return `echo ${#held}`
	case OpSleep:
		return "sleep " + strconv.FormatFloat(s.Delay.Seconds(), 'f', -1, 64)
	case OpForever:
		// Short sleeps, because the shell runs a trap only between
		// commands.
		return "while :; do sleep 0.1; done"
	case OpExit:
		return "exit " + strconv.Itoa(s.Code)
	case OpAllocateBeyondLimit:
		// tail keeps the last line of its input in memory, and /dev/zero
		// is one endless line.
		return "tail /dev/zero"
	case OpTrapTERM:
		var h strings.Builder
		for _, l := range s.Lines {
			h.WriteString("echo " + dquote(l) + "; ")
		}
		h.WriteString("exit " + strconv.Itoa(s.Code))
		return "trap " + squote(h.String()) + " TERM"
	case OpIgnoreTERM:
		return "trap '' TERM"
	case OpMissingCommand:
		return missingCommand
	}
	panic(fmt.Sprintf("runtimetest: Shell cannot render the step %+v", s))
}

// dquote quotes s in double quotes, leaving $ to expand.
func dquote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "`", "\\`").Replace(s) + `"`
}

// squote quotes s so the shell takes it verbatim.
func squote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
