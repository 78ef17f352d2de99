package webui

import (
	"html/template"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fastflow-dev/fastflow/status"
	"github.com/fastflow-dev/fastflow/status/metrics"
)

// The charts are inline SVG in two layers. The outer <svg> is in CSS
// pixels (width 100 %, fixed height, no viewBox) and carries the text; a
// nested <svg> with a viewBox chartW wide and preserveAspectRatio="none"
// carries the shapes and stretches to the page width. One viewBox for
// everything would either distort the text or shrink it to nothing on a
// phone. The text layer places things horizontally in percent of the same
// width, so labels line up with the shapes at any size; lines use
// vector-effect="non-scaling-stroke" so stretching does not thicken them.
// Colours are presentation attributes, and bars take the status colour
// from the page's .st-* rules through fill="currentColor", so a chart also
// renders sensibly without the stylesheet.
const (
	chartW     = 1000.0 // horizontal user units of the stretched layer
	chartMuted = "#5f6b76"
	chartGrid  = "#e3e6ea"
	chartAxis  = "#c4cad1"
	chartFG    = "#1d232a"
	chartSoft  = "#b7791f"
	chartHard  = "#c62828"
	chartCPU   = "#0b62c4"
	chartRAM   = "#6f42c1"
	chartNoScl = ` vector-effect="non-scaling-stroke"`
)

// Duration chart layout (px).
const (
	durRuns   = 50
	durH      = 160
	durTop    = 20 // room for the label of the longest duration
	durBottom = 18 // room for the times of the oldest and newest run
	durMinH   = 2  // a run without a duration still shows, and can be hovered
)

// Timeline layout (px, except tlMinW in chart units).
const (
	tlPast     = 24 * time.Hour
	tlFuture   = 6 * time.Hour
	tlMaxLanes = 12
	tlStrip    = 16 // "now" label and the fires of pipelines without a lane
	tlAxis     = 18 // hour labels
	tlLaneH    = 26 // name line + bar
	tlBandH    = 120
	tlMaxRows  = 40
	tlEmptyH   = 36
	tlMinW     = 2.0 // 0.2 % of the width, about 3.6 minutes
	tlMaxFires = 200 // markers beyond this are noise, and cost page weight
)

// Metrics chart layout (px).
const (
	metH         = 180
	metTop       = 18
	metBottom    = 18
	metMaxPoints = 600 // more points than pixels of a wide chart add nothing
)

// svgBuf builds chart markup without fmt: the timeline of a busy day has
// thousands of bars. The strings.Builder hands its buffer over to the
// result without a copy; numbers are formatted in scratch first.
type svgBuf struct {
	sb      strings.Builder
	scratch [64]byte
}

func (w *svgBuf) raw(s string) { w.sb.WriteString(s) }
func (w *svgBuf) int(i int)    { w.sb.Write(strconv.AppendInt(w.scratch[:0], int64(i), 10)) }

func (w *svgBuf) esc(s string) {
	if !needsHTMLEscape(s) {
		w.sb.WriteString(s)
		return
	}
	w.sb.Write(appendHTMLText(w.scratch[:0], s))
}

func (w *svgBuf) html() template.HTML { return template.HTML(w.sb.String()) }

// num writes v with one decimal, less than a pixel at any width, and
// without a trailing ".0", so the golden files stay stable and short.
func (w *svgBuf) num(v float64) { w.sb.Write(appendFixed(w.scratch[:0], v, 1)) }

// pct writes chart units (0..chartW) as a percentage of the width, for the
// text layer.
func (w *svgBuf) pct(x float64) {
	w.sb.Write(append(appendFixed(w.scratch[:0], x*100/chartW, 2), '%'))
}

// appendFixed appends v rounded to prec (0..3) decimals, without trailing
// zeros and with no "-0", NaN or exponent, which SVG would reject. It
// works on the scaled integer: strconv's float formatting is most of the
// cost of a big chart otherwise.
func appendFixed(b []byte, v float64, prec int) []byte {
	p := [...]float64{1, 10, 100, 1000}[prec]
	m := math.Round(v * p)
	if math.IsNaN(m) || math.Abs(m) >= 1e15 {
		if math.IsNaN(m) || math.IsInf(m, 0) {
			return append(b, '0')
		}
		return strconv.AppendFloat(b, math.Round(v), 'f', 0, 64)
	}
	n := int64(m)
	if n < 0 {
		b = append(b, '-')
		n = -n
	}
	scale := int64(p)
	b = strconv.AppendInt(b, n/scale, 10)
	frac := n % scale
	if frac == 0 {
		return b
	}
	b = append(b, '.')
	for scale /= 10; scale > 0 && frac > 0; scale /= 10 {
		b = append(b, byte('0'+frac/scale))
		frac %= scale
	}
	return b
}

// dur writes a duration for people: tenths under 10 s, then the two
// largest units ("45s", "2m30s", "1h05m").
func (w *svgBuf) dur(d time.Duration) { w.sb.Write(appendChartDuration(w.scratch[:0], d)) }

func appendChartDuration(b []byte, d time.Duration) []byte {
	if d < 0 {
		d = 0
	}
	two := func(b []byte, n int64) []byte {
		if n < 10 {
			b = append(b, '0')
		}
		return strconv.AppendInt(b, n, 10)
	}
	switch {
	case d < 10*time.Second:
		b = appendFixed(b, d.Seconds(), 1)
		return append(b, 's')
	case d < time.Minute:
		b = strconv.AppendInt(b, int64(d/time.Second), 10)
		return append(b, 's')
	case d < time.Hour:
		s := int64(d / time.Second)
		b = strconv.AppendInt(b, s/60, 10)
		b = append(b, 'm')
		if s%60 != 0 {
			b = append(two(b, s%60), 's')
		}
		return b
	default:
		m := int64(d / time.Minute)
		b = strconv.AppendInt(b, m/60, 10)
		b = append(b, 'h')
		if m%60 != 0 {
			b = append(two(b, m%60), 'm')
		}
		return b
	}
}

// when writes a time in UTC, the zone every chart label uses.
func (w *svgBuf) when(t time.Time, layout string) {
	w.sb.Write(t.UTC().AppendFormat(w.scratch[:0], layout))
}

// open starts the outer (pixel) layer.
func (w *svgBuf) open(class string, height int, label string) {
	w.raw(`<svg xmlns="http://www.w3.org/2000/svg" class="chart `)
	w.raw(class)
	w.raw(`" width="100%" height="`)
	w.int(height)
	w.raw(`" role="img" aria-label="`)
	w.esc(label)
	w.raw(`" font-family="system-ui,sans-serif" font-size="11">`)
}

// plot starts the stretched layer; its vertical units stay pixels.
func (w *svgBuf) plot(height int) {
	w.raw(`<svg class="plot" width="100%" height="`)
	w.int(height)
	w.raw(`" viewBox="0 0 1000 `)
	w.int(height)
	w.raw(`" preserveAspectRatio="none">`)
}

// hline draws a horizontal rule across the stretched layer.
func (w *svgBuf) hline(y float64, stroke string) {
	w.raw(`<line x1="0" x2="1000" y1="`)
	w.num(y)
	w.raw(`" y2="`)
	w.num(y)
	w.raw(`" stroke="`)
	w.raw(stroke)
	w.raw(`"` + chartNoScl + `/>`)
}

// vline draws a vertical rule in the stretched layer.
func (w *svgBuf) vline(x, y1, y2 float64, stroke string) {
	w.raw(`<line x1="`)
	w.num(x)
	w.raw(`" x2="`)
	w.num(x)
	w.raw(`" y1="`)
	w.num(y1)
	w.raw(`" y2="`)
	w.num(y2)
	w.raw(`" stroke="`)
	w.raw(stroke)
	w.raw(`"` + chartNoScl + `/>`)
}

// labels opens the group of the text layer. The white halo keeps a label
// readable where it crosses a line or a bar.
func (w *svgBuf) labels() {
	w.raw(`<g class="labels" stroke="#fff" stroke-width="3" stroke-linejoin="round" paint-order="stroke">`)
}

// text writes a label in the pixel layer at x chart units; dx nudges it
// in pixels off an edge.
func (w *svgBuf) text(x float64, dx int, y float64, anchor, fill, s string) {
	w.textClass("", x, dx, y, anchor, fill, s)
}

func (w *svgBuf) textClass(class string, x float64, dx int, y float64, anchor, fill, s string) {
	w.raw(`<text`)
	if class != "" {
		w.raw(` class="`)
		w.raw(class)
		w.raw(`"`)
	}
	w.raw(` x="`)
	w.pct(x)
	w.raw(`"`)
	if dx != 0 {
		w.raw(` dx="`)
		w.int(dx)
		w.raw(`"`)
	}
	w.raw(` y="`)
	w.num(y)
	w.raw(`"`)
	if anchor != "" {
		w.raw(` text-anchor="`)
		w.raw(anchor)
		w.raw(`"`)
	}
	w.raw(` fill="`)
	w.raw(fill)
	w.raw(`">`)
	w.esc(s)
	w.raw(`</text>`)
}

// chartEmpty is the placeholder when there is nothing to draw: still an
// image with a label, so the page layout and screen readers do not change.
func chartEmpty(class, label, msg string) template.HTML {
	var w svgBuf
	w.open(class+" chart-empty", 40, label)
	w.raw(`<text x="50%" y="24" text-anchor="middle" fill="` + chartMuted + `">`)
	w.esc(msg)
	w.raw(`</text></svg>`)
	return w.html()
}

// stClass is the status colour class of the page stylesheet.
func stClass(s status.RunStatus) string {
	switch s {
	case status.RunPending:
		return "st-pending"
	case status.RunRunning:
		return "st-running"
	case status.RunSuccess:
		return "st-success"
	case status.RunFailed:
		return "st-failed"
	case status.RunCancelled:
		return "st-cancelled"
	case status.RunTimeout:
		return "st-timeout"
	case status.RunInterrupted:
		return "st-interrupted"
	case "":
		return "st-none"
	}
	// An unknown status still gets one class token, whatever it contains.
	return "st-" + strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_':
			return r
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		}
		return '-'
	}, string(s))
}

// runLink opens the link of a run's bar and writes its tooltip:
// "2e3f4a5b · hello · SUCCESS · 2m30s · started 2026-11-27 05:00:01 UTC".
// what is written in place of the duration when it is empty.
func (w *svgBuf) runLink(r *status.Run, d time.Duration, what string, from time.Time, fromWord string) {
	w.raw(`<a href="/runs/`)
	w.esc(url.PathEscape(r.ID))
	w.raw(`"><title>`)
	w.esc(shortRunID(r.ID))
	w.raw(` · `)
	w.esc(r.Pipeline)
	w.raw(` · `)
	w.esc(string(r.Status))
	w.raw(` · `)
	if what != "" {
		w.raw(what)
	} else {
		w.dur(d)
	}
	if !from.IsZero() {
		w.raw(` · `)
		w.raw(fromWord)
		w.raw(` `)
		w.when(from, "2006-01-02 15:04:05 UTC")
	}
	w.raw(`</title>`)
}

// bar writes a run's rectangle in the stretched layer.
func (w *svgBuf) bar(r *status.Run, x, y, width, height float64) {
	w.raw(`<rect class="bar `)
	w.esc(stClass(r.Status))
	w.raw(`" fill="currentColor" x="`)
	w.num(x)
	w.raw(`" y="`)
	w.num(y)
	w.raw(`" width="`)
	w.num(width)
	w.raw(`" height="`)
	w.num(height)
	w.raw(`"/>`)
}

// runStart is when a run began to exist on the timeline: its start, or
// its queueing while it has not started.
func runStart(r *status.Run) (t time.Time, word string) {
	if !r.StartedAt.IsZero() {
		return r.StartedAt, "started"
	}
	return r.QueuedAt, "queued"
}

// durationChart draws the durations of up to the 50 most recent runs, given newest first
// (as the store lists them), as bars oldest left to newest right, coloured by status.
//
// The bars sit in 50 fixed slots, right-aligned, so the newest run is
// always at the right edge and a bar keeps its width as runs accumulate.
// Runs without a duration (active, or ended before starting) get a stub:
// the chart takes no clock, which keeps it deterministic. Each slot is
// clickable over its full height, since a short run's bar is tiny.
func durationChart(runs []status.Run) template.HTML {
	n := min(len(runs), durRuns)
	if n == 0 {
		return chartEmpty("chart-duration", "Run durations: no runs yet", "no runs yet")
	}
	shown := runs[:n]
	var longest time.Duration
	for i := range shown {
		longest = max(longest, shown[i].Duration())
	}
	top := float64(longest) * 1.1
	if top <= 0 {
		top = float64(time.Second)
	}
	const (
		slot   = chartW / durRuns
		plotH  = durH - durTop - durBottom
		base   = durH - durBottom
		barPad = slot * 0.15
	)

	var w svgBuf
	w.sb.Grow(1024 + n*340)
	label := make([]byte, 0, 64)
	label = append(label, "Durations of the last "...)
	label = strconv.AppendInt(label, int64(n), 10)
	label = append(label, " runs, oldest left; longest "...)
	label = appendChartDuration(label, longest)
	w.open("chart-duration", durH, string(label))

	w.plot(durH)
	yLongest := base - float64(longest)/top*plotH
	if longest > 0 {
		w.hline(yLongest, chartGrid)
	}
	w.hline(base, chartAxis)
	for i := range n {
		r := &shown[n-1-i]
		x := float64(durRuns-n+i) * slot
		d := r.Duration()
		what := ""
		if r.StartedAt.IsZero() || r.FinishedAt.IsZero() {
			switch {
			case r.Status.Final():
				what = "no duration"
			case r.StartedAt.IsZero():
				what = "queued"
			default:
				what = "in progress"
			}
		}
		from, word := runStart(r)
		w.runLink(r, d, what, from, word)
		w.raw(`<rect class="hit" x="`)
		w.num(x)
		w.raw(`" y="`)
		w.int(durTop)
		w.raw(`" width="`)
		w.num(slot)
		w.raw(`" height="`)
		w.int(plotH)
		w.raw(`" fill="#000" fill-opacity="0"/>`)
		h := max(float64(d)/top*plotH, durMinH)
		w.bar(r, x+barPad, base-h, slot-2*barPad, h)
		w.raw(`</a>`)
	}
	w.raw(`</svg>`)

	w.labels()
	if longest > 0 {
		w.text(0, 4, yLongest-4, "", chartMuted, string(appendChartDuration(nil, longest)))
	}
	const layout = "2006-01-02 15:04 UTC"
	if t, _ := runStart(&shown[0]); !t.IsZero() {
		w.text(chartW, -4, durH-5, "end", chartMuted, t.UTC().Format(layout))
	}
	if t, _ := runStart(&shown[n-1]); n > 1 && !t.IsZero() {
		w.text(0, 4, durH-5, "", chartMuted, t.UTC().Format(layout))
	}
	w.raw(`</g></svg>`)
	return w.html()
}

// timelineFire is a scheduled fire to mark on the timeline.
type timelineFire struct {
	Pipeline string
	At       time.Time
}

// tlBar is a run placed on the timeline.
type tlBar struct {
	run    *status.Run
	x0, x1 float64
	start  time.Time
	end    time.Time
	word   string
	row    int
}

// timelineChart draws the last 24 hours before now of runs (a bar per run from StartedAt (or QueuedAt when not started)
// to FinishedAt (or now while active), coloured by status, minimum visible width) plus the next 6 hours, with
// the next fires marked (a small tick/triangle with a <title> naming pipeline and UTC time) and a "now" line.
// Hour gridlines labelled every 3 h in UTC (e.g. "06:00"). One lane per pipeline when there are few
// (<= 12 pipelines with runs in the window, lanes labelled with the name), otherwise all bars in a packed band.
//
// Lanes are in name order; bars are drawn in input order. The band packs
// bars greedily into rows (the first row free at the bar's start, at most
// 40 rows, then the row free soonest), so concurrent runs stay visible
// without a lane per pipeline. Fires of a pipeline with a lane sit in that
// lane, the others in the strip at the top; at most 200, the earliest.
func timelineChart(runs []status.Run, fires []timelineFire, now time.Time) template.HTML {
	now = now.UTC()
	from, to := now.Add(-tlPast), now.Add(tlFuture)
	span := float64(to.Sub(from))
	xOf := func(t time.Time) float64 { return float64(t.Sub(from)) / span * chartW }
	xNow := xOf(now)

	bars := make([]tlBar, 0, len(runs))
	lanes := map[string]int{}
	var names []string
	for i := range runs {
		r := &runs[i]
		start, word := runStart(r)
		if start.IsZero() || start.After(now) {
			continue
		}
		end := r.FinishedAt
		switch {
		case end.IsZero() && !r.Status.Final():
			end = now
		case end.IsZero() || end.Before(start):
			end = start
		case end.After(now):
			end = now
		}
		if end.Before(from) {
			continue
		}
		x0 := max(xOf(start), 0)
		x1 := max(xOf(end), x0+tlMinW)
		if x1 > xNow {
			// Widened to be visible, a bar must still not reach into the future.
			x0, x1 = min(x0, xNow-tlMinW), xNow
		}
		bars = append(bars, tlBar{run: r, x0: x0, x1: x1, start: start, end: end, word: word})
		if _, ok := lanes[r.Pipeline]; !ok && len(names) <= tlMaxLanes {
			lanes[r.Pipeline] = 0
			names = append(names, r.Pipeline)
		}
	}
	laneMode := len(names) > 0 && len(names) <= tlMaxLanes
	if laneMode {
		slices.Sort(names)
		for i, n := range names {
			lanes[n] = i
		}
		for i := range bars {
			bars[i].row = lanes[bars[i].run.Pipeline]
		}
	} else {
		names = nil
		clear(lanes)
	}

	next := make([]timelineFire, 0, len(fires))
	for _, f := range fires {
		if !f.At.Before(from) && !f.At.After(to) {
			next = append(next, f)
		}
	}
	slices.SortStableFunc(next, func(a, b timelineFire) int {
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		return strings.Compare(a.Pipeline, b.Pipeline)
	})
	next = next[:min(len(next), tlMaxFires)]

	// Layout: the strip, then the lanes or the band, then the hour axis.
	rows, rowH, areaH := 0, 0.0, 0.0
	switch {
	case laneMode:
		rows, rowH = len(names), tlLaneH
		areaH = float64(rows) * rowH
	case len(bars) > 0:
		rows = packRows(bars)
		rowH = min(max(math.Floor(tlBandH/float64(rows)), 3), 12)
		areaH = float64(rows)*rowH + 4
	default:
		areaH = tlEmptyH
	}
	height := tlStrip + int(math.Ceil(areaH)) + tlAxis
	axisY := float64(height - tlAxis)

	var w svgBuf
	w.sb.Grow(4096 + len(bars)*250 + len(next)*160)
	label := make([]byte, 0, 128)
	label = append(label, "Timeline of the last 24 hours and the next 6 hours, now "...)
	label = now.AppendFormat(label, "2006-01-02 15:04 UTC")
	label = append(label, ": "...)
	label = strconv.AppendInt(label, int64(len(bars)), 10)
	label = append(label, " runs, "...)
	label = strconv.AppendInt(label, int64(len(next)), 10)
	label = append(label, " scheduled"...)
	w.open("chart-timeline", height, string(label))

	w.plot(height)
	w.raw(`<rect class="future" x="`)
	w.num(xNow)
	w.raw(`" y="0" width="`)
	w.num(chartW - xNow)
	w.raw(`" height="`)
	w.num(axisY)
	w.raw(`" fill="#f3f5f7"/>`)
	if laneMode {
		for i := 1; i < rows; i += 2 {
			w.raw(`<rect class="lane" x="0" y="`)
			w.num(tlStrip + float64(i)*rowH)
			w.raw(`" width="1000" height="`)
			w.num(rowH)
			w.raw(`" fill="#000" fill-opacity="0.03"/>`)
		}
	}
	firstHour := from.Truncate(time.Hour)
	if firstHour.Before(from) {
		firstHour = firstHour.Add(time.Hour)
	}
	for t := firstHour; !t.After(to); t = t.Add(time.Hour) {
		stroke := chartGrid
		if t.Hour()%3 == 0 {
			stroke = chartAxis
		}
		w.vline(xOf(t), 0, axisY, stroke)
	}
	w.hline(axisY, chartAxis)
	for i := range bars {
		b := &bars[i]
		var y, h float64
		if laneMode {
			y, h = tlStrip+float64(b.row)*rowH+13, 10
		} else {
			y, h = tlStrip+2+float64(b.row)*rowH, max(rowH-1, 2)
		}
		what := ""
		if !b.run.Status.Final() && b.run.FinishedAt.IsZero() {
			what = string(appendChartDuration(nil, b.end.Sub(b.start))) + " so far"
		}
		w.runLink(b.run, b.end.Sub(b.start), what, b.start, b.word)
		w.bar(b.run, b.x0, y, b.x1-b.x0, h)
		w.raw(`</a>`)
	}
	w.raw(`<line class="now" x1="`)
	w.num(xNow)
	w.raw(`" x2="`)
	w.num(xNow)
	w.raw(`" y1="0" y2="`)
	w.num(axisY)
	w.raw(`" stroke="` + chartFG + `" stroke-width="1.5"` + chartNoScl + `/>`)

	if laneMode {
		for _, f := range next {
			if lane, ok := lanes[f.Pipeline]; ok {
				y := tlStrip + float64(lane)*rowH + 13
				w.raw(`<line class="fire-tick" x1="`)
				w.num(xOf(f.At))
				w.raw(`" x2="`)
				w.num(xOf(f.At))
				w.raw(`" y1="`)
				w.num(y)
				w.raw(`" y2="`)
				w.num(y + 10)
				w.raw(`" stroke="` + chartMuted + `" stroke-dasharray="2 2"` + chartNoScl + `/>`)
			}
		}
	}
	w.raw(`</svg>`)

	w.labels()
	for t := firstHour; !t.After(to); t = t.Add(time.Hour) {
		if t.Hour()%3 != 0 {
			continue
		}
		x := xOf(t)
		if x < 30 || x > chartW-30 {
			continue // half of it would be cut off at the edge
		}
		class := ""
		if t.Hour()%6 != 0 {
			class = "minor" // may be hidden by the page on narrow screens
		}
		w.textClass(class, x, 0, float64(height-5), "middle", chartMuted, t.Format("15:04"))
	}
	w.text(xNow, -3, 11, "end", chartFG, "now")
	for i, n := range names {
		w.text(0, 4, tlStrip+float64(i)*rowH+10, "", chartFG, n)
	}
	if len(bars) == 0 {
		w.text(xNow/2, 0, tlStrip+22, "middle", chartMuted, "no runs in the last 24 hours")
	}
	w.raw(`</g>`)
	for _, f := range next {
		y := float64(tlStrip - 8)
		if lane, ok := lanes[f.Pipeline]; ok && laneMode {
			y = tlStrip + float64(lane)*rowH + 6
		}
		w.raw(`<svg class="fire" x="`)
		w.pct(xOf(f.At))
		w.raw(`" y="`)
		w.num(y)
		w.raw(`" overflow="visible"><title>next run of `)
		w.esc(f.Pipeline)
		w.raw(` at `)
		w.when(f.At, "2006-01-02 15:04:05 UTC")
		w.raw(`</title><path d="M-4 0h8l-4 7z" fill="` + chartFG + `"/></svg>`)
	}
	w.raw(`</svg>`)
	return w.html()
}

// packRows assigns each bar a row of the band and returns the number of
// rows. Bars are placed in start order, ties in input order; the order is
// sorted as small keys, since moving the bars themselves costs more than
// the rest of the chart.
func packRows(bars []tlBar) int {
	type key struct {
		x0 float64
		i  int
	}
	order := make([]key, len(bars))
	for i := range bars {
		order[i] = key{bars[i].x0, i}
	}
	slices.SortFunc(order, func(a, b key) int {
		switch {
		case a.x0 < b.x0:
			return -1
		case a.x0 > b.x0:
			return 1
		}
		return a.i - b.i
	})
	ends := make([]float64, 0, tlMaxRows)
	for _, k := range order {
		b := &bars[k.i]
		row := -1
		for r, end := range ends {
			if end <= b.x0 {
				row = r
				break
			}
		}
		if row < 0 {
			if len(ends) < tlMaxRows {
				ends = append(ends, 0)
				row = len(ends) - 1
			} else {
				row = 0
				for r, end := range ends {
					if end < ends[row] {
						row = r
					}
				}
			}
		}
		b.row = row
		ends[row] = max(ends[row], b.x1)
	}
	return len(ends)
}

// metricsChart draws a run's CPU (kind "cpu", values cpu_percent, limits in percent of one core, i.e. cores*100)
// or RAM (kind "ram", values ram_mb in MiB, limits in MiB) over time, with the soft limit as an amber dashed line
// and the hard limit as a red line when > 0, y axis scaled to max(values, hard, soft)*1.1, labelled min/max,
// x axis labelled with elapsed time (0s … 2m30s). With no points: a short "no samples yet" placeholder (still valid SVG/HTML).
//
// Long runs are downsampled to metMaxPoints time buckets keeping each
// bucket's highest reading, so a spike (the one that got a run killed)
// never disappears from the picture. The peak is marked with its value.
func metricsChart(kind string, pts []metrics.Point, soft, hard float64) template.HTML {
	// A corrupt or negative reading would wreck the scale; it draws as 0.
	finite := func(v float64) float64 {
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			return 0
		}
		return v
	}
	var name, unit, color string
	var value func(*metrics.Point) float64
	switch kind {
	case "cpu":
		name, unit, color = "CPU", "%", chartCPU
		value = func(p *metrics.Point) float64 { return finite(p.CPUPercent) }
	case "ram":
		name, unit, color = "RAM", "MiB", chartRAM
		value = func(p *metrics.Point) float64 { return finite(p.RAMMB) }
	default:
		return chartEmpty("chart-metrics", "unknown metric", "unknown metric")
	}
	class := "chart-" + kind
	if len(pts) == 0 {
		return chartEmpty(class, name+": no samples yet", "no samples yet")
	}
	soft, hard = finite(soft), finite(hard)

	t0, t1 := pts[0].Timestamp, pts[0].Timestamp
	peak, peakAt := -1.0, 0
	for i := range pts {
		t := pts[i].Timestamp
		if t.Before(t0) {
			t0 = t
		}
		if t.After(t1) {
			t1 = t
		}
		if v := value(&pts[i]); v > peak {
			peak, peakAt = v, i
		}
	}
	elapsed := t1.Sub(t0)
	span := float64(elapsed)
	xOf := func(i int) float64 {
		if span <= 0 {
			return 0
		}
		return float64(pts[i].Timestamp.Sub(t0)) / span * chartW
	}

	// Indexes of the points to draw: all of them, or each bucket's maximum.
	keep := make([]int, 0, min(len(pts), metMaxPoints))
	if len(pts) <= metMaxPoints {
		for i := range pts {
			keep = append(keep, i)
		}
	} else {
		best := make([]int, metMaxPoints)
		bestV := make([]float64, metMaxPoints)
		for i := range best {
			best[i] = -1
		}
		for i := range pts {
			var k int
			if span > 0 {
				k = int(float64(pts[i].Timestamp.Sub(t0)) / span * metMaxPoints)
			} else {
				k = i * metMaxPoints / len(pts)
			}
			k = min(max(k, 0), metMaxPoints-1)
			if v := value(&pts[i]); best[k] < 0 || v > bestV[k] {
				best[k], bestV[k] = i, v
			}
		}
		for _, i := range best {
			if i >= 0 {
				keep = append(keep, i)
			}
		}
	}

	top := max(peak, soft, hard) * 1.1
	if top <= 0 {
		top = 1
	}
	const (
		plotH = metH - metTop - metBottom
		base  = metH - metBottom
	)
	yOf := func(v float64) float64 { return base - v/top*plotH }
	valueText := func(v float64) string {
		return string(appendFixed(nil, v, 1)) + " " + unit
	}

	var w svgBuf
	w.sb.Grow(3072 + len(keep)*12)
	label := name + " over " + string(appendChartDuration(nil, elapsed)) + ", peak " + valueText(peak)
	if soft > 0 {
		label += ", soft limit " + valueText(soft)
	}
	if hard > 0 {
		label += ", hard limit " + valueText(hard)
	}
	w.open(class, metH, label)

	w.plot(metH)
	w.hline(metTop, chartGrid)
	w.hline(metTop+plotH/2, chartGrid)
	ticks := elapsedTicks(elapsed)
	for _, d := range ticks[1:] {
		w.vline(float64(d)/span*chartW, metTop, base, chartGrid)
	}
	w.hline(base, chartAxis)
	limit := func(class, stroke, dash, word string, v float64) {
		w.raw(`<line class="` + class + `" x1="0" x2="1000" y1="`)
		w.num(yOf(v))
		w.raw(`" y2="`)
		w.num(yOf(v))
		w.raw(`" stroke="` + stroke + `" stroke-width="1.5"` + dash + chartNoScl + `><title>`)
		w.raw(word)
		w.esc(valueText(v))
		w.raw(`</title></line>`)
	}
	if soft > 0 {
		limit("limit-soft", chartSoft, ` stroke-dasharray="6 4"`, "soft limit ", soft)
	}
	if hard > 0 {
		limit("limit-hard", chartHard, "", "hard limit ", hard)
	}
	w.raw(`<polyline class="series" fill="none" stroke="` + color + `" stroke-width="1.5" stroke-linejoin="round" stroke-linecap="round"` + chartNoScl + ` points="`)
	for j, i := range keep {
		if j > 0 {
			w.raw(" ")
		}
		w.num(xOf(i))
		w.raw(",")
		w.num(yOf(value(&pts[i])))
	}
	if len(keep) == 1 {
		// A lone reading would draw nothing; a zero-length segment with
		// round caps shows it as a dot.
		w.raw(" ")
		w.num(xOf(keep[0]))
		w.raw(",")
		w.num(yOf(value(&pts[keep[0]])))
	}
	w.raw(`"><title>`)
	w.raw(name)
	w.raw(` (`)
	w.raw(unit)
	w.raw(`)</title></polyline></svg>`)

	w.labels()
	w.text(0, 4, metTop-5, "", chartMuted, valueText(top))
	w.text(0, 4, base-3, "", chartMuted, "0 "+unit)
	// Limit labels sit above their line, unless the soft one would collide
	// with the hard one's, then below.
	if hard > 0 {
		w.text(chartW, -4, yOf(hard)-3, "end", chartHard, "hard "+valueText(hard))
	}
	if soft > 0 {
		y := yOf(soft) - 3
		if hard > 0 && math.Abs(yOf(soft)-yOf(hard)) < 14 && soft <= hard {
			y = yOf(soft) + 12
		}
		w.text(chartW, -4, y, "end", chartSoft, "soft "+valueText(soft))
	}
	for _, d := range ticks {
		x := 0.0
		if span > 0 {
			x = float64(d) / span * chartW
		}
		if d > 0 && x > chartW*0.88 {
			continue // leaves room for the end label
		}
		anchor := "middle"
		if d == 0 {
			anchor = ""
		}
		w.text(x, 0, metH-5, anchor, chartMuted, string(appendChartDuration(nil, d)))
	}
	if elapsed > 0 {
		w.text(chartW, 0, metH-5, "end", chartMuted, string(appendChartDuration(nil, elapsed)))
	}
	w.raw(`</g>`)
	w.raw(`<circle class="peak" cx="`)
	w.pct(xOf(peakAt))
	w.raw(`" cy="`)
	w.num(yOf(peak))
	w.raw(`" r="3" fill="` + color + `"><title>peak `)
	w.esc(valueText(peak))
	w.raw(` at `)
	w.dur(pts[peakAt].Timestamp.Sub(t0))
	w.raw(`</title></circle></svg>`)
	return w.html()
}

// elapsedTicks returns the x-axis ticks of a chart spanning d: 0 and
// multiples of a round step, at most six of them.
func elapsedTicks(d time.Duration) []time.Duration {
	steps := [...]time.Duration{
		time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second,
		time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
		time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour,
	}
	ticks := []time.Duration{0}
	if d <= 0 {
		return ticks
	}
	step := steps[len(steps)-1]
	for _, s := range steps {
		if d/s <= 5 {
			step = s
			break
		}
	}
	for t := step; t <= d && len(ticks) < 7; t += step {
		ticks = append(ticks, t)
	}
	return ticks
}
