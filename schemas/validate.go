package schemas

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/adhocore/gronx"
)

// minDockerMemory is the smallest memory limit Docker accepts for a container.
const minDockerMemory = 6 << 20

// minEvery keeps an interval schedule from turning into a busy loop.
const minEvery = time.Second

// Validate applies the rules pipeline.schema.json cannot express. It assumes the document
// already passed the schema; pointers refer to the pipeline.json the Spec came from.
func (s Spec) Validate() []Violation {
	var out []Violation
	add := func(ptr, format string, args ...any) {
		out = append(out, Violation{Pointer: ptr, Message: fmt.Sprintf(format, args...)})
	}
	if s.Timezone != "" {
		if err := checkZone(s.Timezone); err != "" {
			add("/timezone", "%s", err)
		}
	}
	if s.Schedule != nil {
		out = append(out, s.Schedule.validate("/schedule")...)
	}
	for i, sc := range s.Schedules {
		out = append(out, sc.validate(fmt.Sprintf("/schedules/%d", i))...)
	}
	if s.MemHardLimit != 0 && s.MemHardLimit < minDockerMemory {
		add("/mem_hard_limit", "is %s; Docker needs at least 6 MiB", s.MemHardLimit)
	}
	if s.MemSoftLimit != 0 && s.MemHardLimit != 0 && s.MemSoftLimit > s.MemHardLimit {
		add("/mem_soft_limit", "mem_soft_limit (%s) is above mem_hard_limit (%s)", s.MemSoftLimit, s.MemHardLimit)
	}
	if s.CPUSoftLimit != 0 && s.CPUHardLimit != 0 && s.CPUSoftLimit > s.CPUHardLimit {
		add("/cpu_soft_limit", "cpu_soft_limit (%g) is above cpu_hard_limit (%g)", s.CPUSoftLimit, s.CPUHardLimit)
	}
	seen := make(map[string]int, len(s.Notify))
	for i, n := range s.Notify {
		if j, ok := seen[n.Secret]; ok {
			add(fmt.Sprintf("/notify/%d/secret", i), "names the secret %s of /notify/%d again; each target is one webhook, notified once per run", n.Secret, j)
			continue
		}
		seen[n.Secret] = i
	}
	names := make([]string, 0, len(s.Parameters))
	for n := range s.Parameters {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		p := s.Parameters[n]
		base := "/parameters/" + escapePointer(n)
		for i, e := range p.Enum {
			if !typeMatches(p.Type, e) {
				add(fmt.Sprintf("%s/enum/%d", base, i), "enum value %s is not of the parameter's type %s", describe(e), p.Type)
			}
		}
		if p.Default != nil {
			switch {
			case !typeMatches(p.Type, p.Default):
				add(base+"/default", "default %s does not match the parameter's type %s", describe(p.Default), p.Type)
			case !p.Accepts(p.Default):
				add(base+"/default", "default %s is not one of the enum values", describe(p.Default))
			}
		}
	}
	return out
}

func (sc Schedule) validate(ptr string) []Violation {
	var out []Violation
	add := func(p, format string, args ...any) {
		out = append(out, Violation{Pointer: p, Message: fmt.Sprintf(format, args...)})
	}
	if sc.Cron != "" {
		cronPtr := ptr + "/cron"
		if sc.Short {
			cronPtr = ptr
		}
		if !gronx.New().IsValid(sc.Cron) {
			add(cronPtr, "invalid cron expression %q: use 5 fields (minute hour day month weekday), 6 with seconds, or a macro such as @daily", sc.Cron)
		}
	}
	if sc.Timezone != "" {
		if sc.Every != "" {
			add(ptr+"/timezone", `"timezone" applies only to cron schedules, not to "every"`)
		} else if err := checkZone(sc.Timezone); err != "" {
			add(ptr+"/timezone", "%s", err)
		}
	}
	if sc.Every != "" {
		d, err := time.ParseDuration(sc.Every)
		switch {
		case err != nil:
			add(ptr+"/every", "not a duration: use Go syntax such as \"90s\", \"15m\" or \"1h30m\"")
		case d < minEvery:
			add(ptr+"/every", "interval %s is shorter than the minimum of 1s", d)
		}
	}
	return out
}

func checkZone(name string) string {
	// time.LoadLocation accepts "Local", which means the operator host's zone and would
	// make a schedule depend on where Fast-Flow runs.
	if strings.EqualFold(name, "local") {
		return fmt.Sprintf("unknown time zone %q: use an IANA name such as \"Europe/Berlin\" or \"UTC\"", name)
	}
	if _, err := time.LoadLocation(name); err != nil {
		return fmt.Sprintf("unknown time zone %q: use an IANA name such as \"Europe/Berlin\" or \"UTC\"", name)
	}
	return ""
}

func describe(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("%q (a string)", x)
	case bool:
		return fmt.Sprintf("%v (a boolean)", x)
	case float64:
		return fmt.Sprintf("%v (a number)", x)
	}
	return fmt.Sprint(v)
}
