package operator

import (
	"errors"
	"fmt"
	"time"

	"github.com/adhocore/gronx"

	"github.com/fastflow-dev/fastflow/schemas"
)

// errNoSchedule: a schedule with neither a cron expression nor an interval
// (validation refuses it, so a valid pipeline never has one).
var errNoSchedule = errors.New("operator: schedule has neither cron nor every")

// NextFire returns the first fire of sc strictly after t, in UTC. It is a
// pure function of its arguments, so the scheduler, the API and the tests
// agree on every fire time.
//
// An "every" schedule fires on multiples of its interval counted from the
// zero time, which for intervals that divide a day means on the UTC clock
// (every 15m: :00, :15, :30, :45). Being anchored rather than relative to a
// start makes every replica and every restart compute the same due times,
// which the fire keys rely on.
//
// A cron schedule is evaluated on the wall clock of its time zone.
// Daylight-saving days follow one rule each way:
//   - a wall time the clocks skip (02:30 on the spring-forward day in
//     Europe/Berlin) fires once, at the first instant after the gap (03:00
//     local), like Vixie cron; several skipped times collapse into that one
//     fire;
//   - a wall time that happens twice (02:30 on the fall-back day) fires
//     only at its first occurrence. This also applies to wildcard hours: an
//     hourly schedule does not fire a second time in the repeated hour.
func NextFire(sc schemas.Schedule, t time.Time) (time.Time, error) {
	if d := sc.Interval(); d > 0 {
		return t.UTC().Truncate(d).Add(d), nil
	}
	if sc.Cron == "" {
		return time.Time{}, errNoSchedule
	}
	return nextCron(sc.Cron, sc.Location(), t)
}

// maxCronSteps bounds the search in nextCron. Each step moves to a later
// wall time; only a skipped or repeated hour makes a step not count, and
// those pass within a few steps.
const maxCronSteps = 100

func nextCron(expr string, loc *time.Location, t time.Time) (time.Time, error) {
	w := wallClock(t, loc)
	for range maxCronSteps {
		nw, err := gronx.NextTickAfter(expr, w, false)
		if err != nil {
			return time.Time{}, fmt.Errorf("next fire of %q: %w", expr, err)
		}
		if !nw.After(w) {
			return time.Time{}, fmt.Errorf("next fire of %q: no time after %s", expr, w.Format(time.DateTime))
		}
		// The first occurrence of that wall time; if it is not after t,
		// t is in the repeated hour past it and the fire already was.
		if at := fromWallClock(nw, loc); at.After(t) {
			return at, nil
		}
		w = nw
	}
	return time.Time{}, fmt.Errorf("next fire of %q after %s: not found in %d steps", expr, t.Format(time.RFC3339), maxCronSteps)
}

// wallClock is t's reading on a clock in loc, as a UTC time without
// sub-seconds: cron works on wall time, and UTC has no daylight saving to
// disturb gronx's arithmetic.
func wallClock(t time.Time, loc *time.Location) time.Time {
	l := t.In(loc)
	return time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), l.Minute(), l.Second(), 0, time.UTC)
}

// fromWallClock is the first instant at which a clock in loc reads w (a
// wallClock value). A reading the clocks skip maps to the end of the gap.
func fromWallClock(w time.Time, loc *time.Location) time.Time {
	if loc == time.UTC {
		return w
	}
	// The offsets in effect a day either side: a wall time is affected by
	// at most one transition, and these are the offsets before and after it.
	_, before := w.Add(-24 * time.Hour).In(loc).Zone()
	_, after := w.Add(24 * time.Hour).In(loc).Zone()
	a := w.Add(-time.Duration(before) * time.Second)
	b := w.Add(-time.Duration(after) * time.Second)
	okA, okB := wallClock(a, loc).Equal(w), wallClock(b, loc).Equal(w)
	switch {
	case okA && okB:
		if b.Before(a) {
			return b.UTC()
		}
		return a.UTC()
	case okA:
		return a.UTC()
	case okB:
		return b.UTC()
	}
	// In a gap: of the two readings, the later instant lies past the
	// transition; its zone began at the end of the gap.
	later := a
	if b.After(a) {
		later = b
	}
	start, _ := later.In(loc).ZoneBounds()
	return start.UTC()
}

// dueFires lists the fires of sc from first (a due time) up to and
// including now. It keeps the newest keep of them and reports how many
// older ones it dropped, and returns the first fire after now. A walk over
// a very long downtime of a frequent schedule is cut short: the fires
// before the last keep periods are only counted as dropped, estimated.
func dueFires(sc schemas.Schedule, first, now time.Time, keep int) (dues []time.Time, dropped int, next time.Time, err error) {
	const maxSteps = 10_000
	if d := sc.Interval(); d > 0 && first.Before(now) {
		// Closed form: no walk needed for a fixed interval.
		n := int(now.Sub(first)/d) + 1
		if n > keep {
			dropped = n - keep
			first = first.Add(time.Duration(dropped) * d)
		}
		for at := first; !at.After(now); at = at.Add(d) {
			dues = append(dues, at)
		}
		return dues, dropped, dues[len(dues)-1].Add(d), nil
	}
	at := first
	for steps := 0; !at.After(now); steps++ {
		if steps == maxSteps && len(dues) >= 2 {
			// Jump close to now and count what was skipped by the
			// period the schedule had last.
			gap := dues[len(dues)-1].Sub(dues[len(dues)-2])
			from := now.Add(-time.Duration(keep+1) * gap)
			if from.After(at) {
				dropped += len(dues) + int(from.Sub(at)/gap)
				dues = dues[:0]
				if at, err = NextFire(sc, from); err != nil {
					return nil, 0, time.Time{}, err
				}
				continue
			}
		}
		dues = append(dues, at)
		if len(dues) > keep {
			dues = dues[1:]
			dropped++
		}
		if at, err = NextFire(sc, at); err != nil {
			return nil, 0, time.Time{}, err
		}
	}
	return dues, dropped, at, nil
}
