package fake

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// Program is what a fake container does: its steps, run in order on the
// runtime's clock. Steps that take no time (printing, setting memory) run at
// once, one after the other; Sleep waits on the clock. A program that runs
// out of steps exits with code 0.
//
// Start finds a container's program in its command when the command is one
// that Command made, and otherwise asks Config.Program (or the function
// given to SetProgram). A command the fake cannot resolve behaves like a
// missing executable: the container exits at once with code 127.
type Program []Step

// Op names what a Step does.
type Op string

// The operations of a Step; the constructors below document each.
const (
	OpPrint          Op = "print"
	OpEcho           Op = "echo"
	OpSpam           Op = "spam"
	OpPrintWorkDir   Op = "print-workdir"
	OpPrintMemLimit  Op = "print-mem-limit"
	OpPrintMilliCPUs Op = "print-millicpus"
	OpCat            Op = "cat"
	OpWrite          Op = "write"
	OpTryWrite       Op = "try-write"
	OpSleep          Op = "sleep"
	OpForever        Op = "forever"
	OpExit           Op = "exit"
	OpOOM            Op = "oom"
	OpSetMemory      Op = "set-memory"
	OpSetCPU         Op = "set-cpu"
	OpOnTERM         Op = "on-term"
	OpIgnoreTERM     Op = "ignore-term"
)

// The streams a container prints to.
const (
	Stdout = "stdout"
	Stderr = "stderr"
)

// Step is one instruction of a Program. Make steps with the constructors;
// the fields are exported so a Program encodes into a command and shows in
// a test's failure output.
type Step struct {
	Op     Op            `json:"op"`
	Stream string        `json:"stream,omitempty"`
	Text   string        `json:"text,omitempty"`
	Path   string        `json:"path,omitempty"`
	Code   int           `json:"code,omitempty"`
	Delay  time.Duration `json:"delay,omitempty"`
	Lines  []string      `json:"lines,omitempty"`
	// N is the byte count of SetMemory, the millicores of SetCPU, the
	// line count of Spam.
	N int64 `json:"n,omitempty"`
}

// Print prints text as one line on stdout, verbatim.
func Print(text string) Step { return Step{Op: OpPrint, Stream: Stdout, Text: text} }

// PrintErr prints text as one line on stderr, verbatim.
func PrintErr(text string) Step { return Step{Op: OpPrint, Stream: Stderr, Text: text} }

// Echo prints text as one line on stream (Stdout or Stderr) after expanding
// $NAME and ${NAME} to the container's environment variables, as a shell
// does inside double quotes: an unset variable is empty and $$ is a literal
// $.
func Echo(stream, text string) Step { return Step{Op: OpEcho, Stream: stream, Text: text} }

// Spam prints n stdout lines "line 1" to "line n" at once, for tests of
// log volume.
func Spam(n int) Step { return Step{Op: OpSpam, N: int64(n)} }

// PrintWorkDir prints prefix followed by the container's working directory
// ("/" when the spec sets none).
func PrintWorkDir(prefix string) Step { return Step{Op: OpPrintWorkDir, Text: prefix} }

// PrintMemLimit prints prefix followed by the memory limit in bytes, or
// "max" without one, as the cgroup's memory.max reads.
func PrintMemLimit(prefix string) Step { return Step{Op: OpPrintMemLimit, Text: prefix} }

// PrintMilliCPUs prints prefix followed by the CPU limit in thousandths of a
// CPU, or "max" without one.
func PrintMilliCPUs(prefix string) Step { return Step{Op: OpPrintMilliCPUs, Text: prefix} }

// Cat prints the lines of the file at path in the container: a host file
// under one of its mounts, or one a Write outside every mount made. A
// missing file prints cat's complaint on stderr and the program goes on.
func Cat(path string) Step { return Step{Op: OpCat, Path: path} }

// Write writes line and a newline to path in the container, replacing the
// file: under a writable mount to the host file, outside every mount to the
// container's own filesystem. Under a read-only mount it prints the shell's
// complaint on stderr and the program goes on.
func Write(path, line string) Step { return Step{Op: OpWrite, Path: path, Text: line} }

// TryWrite writes "x" to path as Write does and prints prefix followed by
// "writable" or, under a read-only mount, "denied".
func TryWrite(path, prefix string) Step { return Step{Op: OpTryWrite, Path: path, Text: prefix} }

// Sleep waits d on the runtime's clock. A signal ends the wait.
func Sleep(d time.Duration) Step { return Step{Op: OpSleep, Delay: d} }

// Forever keeps the container running, without output, until it is stopped,
// removed or killed: a quiet container, or one that runs until stopped.
func Forever() Step { return Step{Op: OpForever} }

// Exit ends the container with code.
func Exit(code int) Step { return Step{Op: OpExit, Code: code} }

// OOM ends the container as the kernel's OOM killer does: code 137 and
// OOMKilled, with or without a memory limit.
func OOM() Step { return Step{Op: OpOOM} }

// SetMemory sets the memory the container uses, as Stats reports it. Above
// the spec's memory limit the container is OOM-killed (137, OOMKilled).
func SetMemory(bytes int64) Step { return Step{Op: OpSetMemory, N: bytes} }

// SetCPU sets the CPU the container burns, in thousandths of a CPU, as
// Stats accumulates it. Above the spec's CPU limit it is held to the limit
// and the periods count as throttled.
func SetCPU(millicores int64) Step { return Step{Op: OpSetCPU, N: millicores} }

// OnTERM makes SIGTERM (Stop) interrupt the program: the container prints
// lines on stdout, then exits with code after delay on the clock. A delay
// longer than Stop's grace ends in SIGKILL (137) at the end of the grace.
func OnTERM(delay time.Duration, code int, lines ...string) Step {
	return Step{Op: OpOnTERM, Delay: delay, Code: code, Lines: lines}
}

// IgnoreTERM makes the container ignore SIGTERM, so Stop kills it (137)
// once its grace has passed.
//
// Without OnTERM or IgnoreTERM a container reacts to SIGTERM as a process
// without a handler does where Docker puts it: with spec.Init it dies at
// once (143); without, it is PID 1, which the kernel shields from the
// signal, so Stop kills it after the grace (137).
func IgnoreTERM() Step { return Step{Op: OpIgnoreTERM} }

// ProgramCommand is the first word of a command Command made.
const ProgramCommand = "fastflow-fake-program"

// Command returns a container command that carries p, for a RunSpec that a
// test hands to the fake itself (the conformance suite's containers). The
// operator builds its own commands; those resolve through Config.Program.
func Command(p Program) []string {
	b, err := json.Marshal(p)
	if err != nil {
		// Steps hold strings, numbers and string slices only.
		panic(fmt.Sprintf("fake: encode program: %v", err))
	}
	return []string{ProgramCommand, string(b)}
}

// decodeCommand returns the program a Command-made command carries, and
// false for any other command.
func decodeCommand(cmd []string) (Program, bool, error) {
	if len(cmd) != 2 || cmd[0] != ProgramCommand {
		return nil, false, nil
	}
	var p Program
	if err := json.Unmarshal([]byte(cmd[1]), &p); err != nil {
		return nil, true, fmt.Errorf("%w: program command: %w", ErrInvalidSpec, err)
	}
	return p, true, nil
}

// validate reports the first step the fake cannot run.
func (p Program) validate() error {
	for i, s := range p {
		switch s.Op {
		case OpPrint, OpEcho:
			if s.Stream != Stdout && s.Stream != Stderr {
				return fmt.Errorf("%w: step %d prints to stream %q", ErrInvalidSpec, i, s.Stream)
			}
		case OpSpam, OpSetMemory, OpSetCPU:
			if s.N < 0 {
				return fmt.Errorf("%w: step %d (%s) is negative", ErrInvalidSpec, i, s.Op)
			}
		case OpCat, OpWrite, OpTryWrite:
			if s.Path == "" {
				return fmt.Errorf("%w: step %d (%s) has no path", ErrInvalidSpec, i, s.Op)
			}
		case OpPrintWorkDir, OpPrintMemLimit, OpPrintMilliCPUs, OpSleep, OpForever,
			OpExit, OpOOM, OpOnTERM, OpIgnoreTERM:
		default:
			return fmt.Errorf("%w: step %d has the unknown op %q", ErrInvalidSpec, i, s.Op)
		}
	}
	return nil
}

// clone returns a deep copy of p, so a snapshot or a running container
// never shares a test's slices.
func (p Program) clone() Program {
	out := slices.Clone(p)
	for i := range out {
		out[i].Lines = slices.Clone(out[i].Lines)
	}
	return out
}
