package webui

import (
	"encoding/xml"
	"fmt"
	"html/template"
	"io"
	"math"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fastflow-dev/fastflow/status"
	"github.com/fastflow-dev/fastflow/status/metrics"
)

// chartNow is the fixed clock of the chart tests.
var chartNow = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// checkChartGolden compares a chart with testdata/charts/name, or rewrites
// it with -update. The markup is also checked for well-formedness, so a
// golden file can never pin broken output.
func checkChartGolden(t *testing.T, name string, got template.HTML) {
	t.Helper()
	checkChartMarkup(t, got)
	checkGoldenFile(t, filepath.Join("testdata", "charts", name), string(got))
}

// chartElements are the only elements a chart may contain.
var chartElements = map[string]bool{
	"svg": true, "a": true, "rect": true, "line": true, "polyline": true,
	"path": true, "text": true, "title": true, "circle": true, "g": true,
}

// chartMarkup is what checkChartMarkup saw.
type chartMarkup struct {
	titles []string            // text of every <title>, in order
	hrefs  []string            // every href, in order
	texts  []string            // text of every <text>, in order
	count  map[string]int      // elements by name
	root   map[string]string   // attributes of the outer <svg>
	class  map[string][]string // class attribute of every element, by name
}

// checkChartMarkup parses h as strict XML (SVG is XML; the HTML parser
// accepts anything that passes this) and checks that it is one <svg>
// image of known elements, with no event handlers and only run links.
func checkChartMarkup(t *testing.T, h template.HTML) chartMarkup {
	t.Helper()
	m := chartMarkup{count: map[string]int{}, class: map[string][]string{}}
	d := xml.NewDecoder(strings.NewReader(string(h)))
	d.Strict = true
	var stack []string
	roots := 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed: %v\n%s", err, h)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			name := tok.Name.Local
			if !chartElements[name] {
				t.Fatalf("unexpected element <%s>", name)
			}
			if len(stack) == 0 {
				roots++
				m.root = map[string]string{}
				for _, a := range tok.Attr {
					m.root[a.Name.Local] = a.Value
				}
			}
			m.count[name]++
			for _, a := range tok.Attr {
				switch k := strings.ToLower(a.Name.Local); {
				case strings.HasPrefix(k, "on") || k == "style":
					t.Fatalf("attribute %s=%q on <%s>", a.Name.Local, a.Value, name)
				case k == "href":
					if !strings.HasPrefix(a.Value, "/runs/") {
						t.Fatalf("href %q", a.Value)
					}
					m.hrefs = append(m.hrefs, a.Value)
				case k == "class":
					m.class[name] = append(m.class[name], a.Value)
				}
			}
			stack = append(stack, name)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) == 0 {
				if strings.TrimSpace(string(tok)) != "" {
					t.Fatalf("text outside the chart: %q", tok)
				}
				continue
			}
			switch stack[len(stack)-1] {
			case "title":
				m.titles = append(m.titles, string(tok))
			case "text":
				m.texts = append(m.texts, string(tok))
			}
		default:
			t.Fatalf("unexpected token %T", tok)
		}
	}
	if roots != 1 || m.count["svg"] == 0 {
		t.Fatalf("want one root <svg>, got %d roots", roots)
	}
	if m.root["role"] != "img" || m.root["aria-label"] == "" || m.root["width"] != "100%" {
		t.Errorf("root attributes %v, want role=img, an aria-label and width 100%%", m.root)
	}
	return m
}

func chartRunID(i int) string { return fmt.Sprintf("0193a1b2-c3d4-7e5f-8a9b-%012d", i) }

// chartRun returns a run; the offsets are from chartNow, and nil leaves the
// time unset.
func chartRun(i int, pipeline string, st status.RunStatus, queued, started, finished *time.Duration) status.Run {
	r := status.Run{ID: chartRunID(i), Pipeline: pipeline, Status: st}
	if queued != nil {
		r.QueuedAt = chartNow.Add(*queued)
	}
	if started != nil {
		r.StartedAt = chartNow.Add(*started)
	}
	if finished != nil {
		r.FinishedAt = chartNow.Add(*finished)
	}
	return r
}

func at(d time.Duration) *time.Duration { return &d }

// chartMixedRuns are a pipeline's recent runs, newest first, one of each
// kind the charts tell apart.
func chartMixedRuns() []status.Run {
	return []status.Run{
		chartRun(9, "nightly", status.RunPending, at(-10*time.Second), nil, nil),
		chartRun(8, "nightly", status.RunRunning, at(-5*time.Minute), at(-290*time.Second), nil),
		chartRun(7, "nightly", status.RunSuccess, at(-time.Hour), at(-time.Hour+time.Second), at(-57*time.Minute)),
		chartRun(6, "nightly", status.RunFailed, at(-2*time.Hour), at(-2*time.Hour), at(-2*time.Hour+8100*time.Millisecond)),
		chartRun(5, "nightly", status.RunCancelled, at(-3*time.Hour), nil, at(-3*time.Hour+time.Minute)),
		chartRun(4, "nightly", status.RunTimeout, at(-5*time.Hour), at(-5*time.Hour), at(-4*time.Hour)),
		chartRun(3, "nightly", status.RunInterrupted, at(-7*time.Hour), at(-7*time.Hour), at(-6*time.Hour-30*time.Minute)),
		chartRun(2, "nightly", status.RunSuccess, at(-9*time.Hour), at(-9*time.Hour), at(-9*time.Hour+150*time.Second)),
	}
}

func TestDurationChartGolden(t *testing.T) {
	t.Parallel()
	many := make([]status.Run, 0, 60)
	for i := range 60 {
		start := -time.Duration(i+1) * time.Hour
		st := status.RunSuccess
		if i%7 == 3 {
			st = status.RunFailed
		}
		many = append(many, chartRun(100+i, "hourly", st, at(start), at(start), at(start+time.Duration(30+i*11)*time.Second)))
	}
	tests := []struct {
		name string
		runs []status.Run
	}{
		{"duration_empty.svg", nil},
		{"duration_mixed.svg", chartMixedRuns()},
		{"duration_one_running.svg", chartMixedRuns()[1:2]},
		{"duration_full.svg", many},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			checkChartGolden(t, tt.name, durationChart(tt.runs))
		})
	}
}

// TestDurationChartBars checks what the golden files only show: the bars
// are the 50 newest runs, oldest left, each a link with a tooltip and the
// status class the page's .st-* rules colour through currentColor.
func TestDurationChartBars(t *testing.T) {
	t.Parallel()
	runs := make([]status.Run, 0, 70)
	for i := range 70 {
		start := -time.Duration(i+1) * time.Minute
		runs = append(runs, chartRun(i, "p", status.RunSuccess, at(start), at(start), at(start+time.Duration(i+1)*time.Second)))
	}
	got := durationChart(runs)
	m := checkChartMarkup(t, got)
	if len(m.hrefs) != 50 {
		t.Fatalf("%d bars, want 50", len(m.hrefs))
	}
	if m.hrefs[0] != "/runs/"+chartRunID(49) || m.hrefs[49] != "/runs/"+chartRunID(0) {
		t.Errorf("first and last bar link to %s and %s, want the oldest shown (49) left and the newest (0) right", m.hrefs[0], m.hrefs[49])
	}
	for _, c := range m.class["rect"] {
		if c != "bar st-success" && c != "hit" {
			t.Errorf("rect class %q", c)
		}
	}
	if n := strings.Count(string(got), `<rect class="bar st-success" fill="currentColor"`); n != 50 {
		t.Errorf("%d bars with the status class and fill=currentColor, want 50", n)
	}
	if want := "00000049 · p · SUCCESS · 50s · started 2026-11-27 11:10:00 UTC"; m.titles[0] != want {
		t.Errorf("tooltip %q, want %q", m.titles[0], want)
	}
	if !strings.Contains(string(got), `viewBox="0 0 1000 160" preserveAspectRatio="none"`) {
		t.Error("no stretched plot layer")
	}
}

func TestTimelineChartGolden(t *testing.T) {
	t.Parallel()
	laned := []status.Run{
		chartRun(1, "ingest", status.RunRunning, at(-20*time.Minute), at(-19*time.Minute), nil),
		chartRun(2, "ingest", status.RunSuccess, at(-3*time.Hour), at(-3*time.Hour), at(-2*time.Hour)),
		chartRun(3, "report", status.RunFailed, at(-6*time.Hour), at(-6*time.Hour), at(-6*time.Hour+5*time.Second)),
		chartRun(4, "report", status.RunPending, at(-2*time.Minute), nil, nil),
		// Started before the window: clipped to its left edge.
		chartRun(5, "backup", status.RunTimeout, at(-26*time.Hour), at(-26*time.Hour), at(-22*time.Hour)),
		// Finished before the window: not drawn.
		chartRun(6, "backup", status.RunSuccess, at(-30*time.Hour), at(-30*time.Hour), at(-29*time.Hour)),
		// Cancelled while queued: a minimum-width bar at its queueing.
		chartRun(7, "ingest", status.RunCancelled, at(-12*time.Hour), nil, at(-12*time.Hour+time.Second)),
	}
	fires := []timelineFire{
		{Pipeline: "report", At: chartNow.Add(3 * time.Hour)},
		{Pipeline: "ingest", At: chartNow.Add(30 * time.Minute)},
		{Pipeline: "cleanup", At: chartNow.Add(5 * time.Hour)}, // no lane: the top strip
		{Pipeline: "yearly", At: chartNow.Add(40 * 24 * time.Hour)},
	}
	var band []status.Run
	for i := range 40 {
		start := -time.Duration(i*30+7) * time.Minute
		band = append(band, chartRun(100+i, fmt.Sprintf("pipe-%02d", i%15), status.RunSuccess, at(start), at(start), at(start+time.Duration(20+i*3)*time.Minute)))
	}
	band[0].Status, band[0].FinishedAt = status.RunRunning, time.Time{}
	band[5].Status = status.RunFailed
	tests := []struct {
		name  string
		runs  []status.Run
		fires []timelineFire
	}{
		{"timeline_empty.svg", nil, nil},
		{"timeline_fires_only.svg", nil, fires},
		{"timeline_lanes.svg", laned, fires},
		{"timeline_band.svg", band, []timelineFire{{Pipeline: "pipe-03", At: chartNow.Add(time.Hour)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			checkChartGolden(t, tt.name, timelineChart(tt.runs, tt.fires, chartNow))
		})
	}
}

var chartXAttr = regexp.MustCompile(`<rect class="bar [^"]*" fill="currentColor" x="([0-9.]+)" y="[0-9.]+" width="([0-9.]+)"`)

func TestTimelineChartPlacement(t *testing.T) {
	t.Parallel()
	runs := []status.Run{
		chartRun(1, "a", status.RunSuccess, at(-12*time.Hour), at(-12*time.Hour), at(-9*time.Hour)),
		chartRun(2, "a", status.RunRunning, at(-time.Hour), at(-time.Hour), nil),
		chartRun(3, "b", status.RunSuccess, at(-6*time.Hour), at(-6*time.Hour), at(-6*time.Hour+time.Second)),
	}
	fires := []timelineFire{{Pipeline: "b", At: chartNow.Add(90 * time.Minute)}}
	got := timelineChart(runs, fires, chartNow.In(time.FixedZone("X", 5*3600)))
	m := checkChartMarkup(t, got)
	// 30 hours over 1000 units: 12 h ago is at 400, 3 h wide is 100; the
	// running run ends at now (800); the 1 s run gets the minimum width.
	bars := chartXAttr.FindAllStringSubmatch(string(got), -1)
	want := [][2]string{{"400", "100"}, {"766.7", "33.3"}, {"600", "2"}}
	if len(bars) != len(want) {
		t.Fatalf("%d bars, want %d", len(bars), len(want))
	}
	for i, b := range bars {
		if b[1] != want[i][0] || b[2] != want[i][1] {
			t.Errorf("bar %d at x=%s width=%s, want x=%s width=%s", i, b[1], b[2], want[i][0], want[i][1])
		}
	}
	if !slicesContain(m.texts, "a") || !slicesContain(m.texts, "b") {
		t.Errorf("lane labels missing from %q", m.texts)
	}
	// Hour labels every 3 h, in UTC although now came in another zone.
	for _, h := range []string{"09:00", "12:00", "15:00", "00:00"} {
		if !slicesContain(m.texts, h) {
			t.Errorf("no %s label in %q", h, m.texts)
		}
	}
	if slicesContain(m.texts, "10:00") {
		t.Error("10:00 labelled; only every third hour should be")
	}
	if !slicesContain(m.titles, "next run of b at 2026-11-27 13:30:00 UTC") {
		t.Errorf("fire title missing from %q", m.titles)
	}
	if !slicesContain(m.titles, "00000002 · a · RUNNING · 1h so far · started 2026-11-27 11:00:00 UTC") {
		t.Errorf("running run title missing from %q", m.titles)
	}
	if m.count["line"] == 0 || !strings.Contains(string(got), `class="now" x1="800" x2="800"`) {
		t.Error("no now line at 800")
	}
}

func slicesContain(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// TestTimelineChartLaneLimit: lanes up to 12 pipelines, one packed band
// from 13 on, with every run still drawn.
func TestTimelineChartLaneLimit(t *testing.T) {
	t.Parallel()
	for _, n := range []int{1, 12, 13, 40} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			t.Parallel()
			var runs []status.Run
			for i := range n {
				start := -time.Duration(i+1) * 10 * time.Minute
				runs = append(runs, chartRun(i, fmt.Sprintf("p%02d", i), status.RunSuccess, at(start), at(start), at(start+time.Hour)))
			}
			m := checkChartMarkup(t, timelineChart(runs, nil, chartNow))
			if len(m.hrefs) != n {
				t.Errorf("%d bars, want %d", len(m.hrefs), n)
			}
			labelled := slicesContain(m.texts, "p00")
			if labelled != (n <= tlMaxLanes) {
				t.Errorf("lane labels shown: %v, want %v", labelled, n <= tlMaxLanes)
			}
		})
	}
}

func TestPackRowsNoOverlap(t *testing.T) {
	t.Parallel()
	var bars []tlBar
	for i := range 300 {
		x0 := float64(i*37%800) + float64(i%3)/10
		bars = append(bars, tlBar{x0: x0, x1: x0 + float64(2+i%50)})
	}
	rows := packRows(bars)
	if rows > tlMaxRows {
		t.Fatalf("%d rows, cap is %d", rows, tlMaxRows)
	}
	if rows == tlMaxRows {
		t.Skip("capped: overlaps allowed")
	}
	for i, a := range bars {
		for _, b := range bars[i+1:] {
			if a.row == b.row && a.x0 < b.x1 && b.x0 < a.x1 {
				t.Fatalf("bars [%v,%v] and [%v,%v] overlap in row %d", a.x0, a.x1, b.x0, b.x1, a.row)
			}
		}
	}
}

func chartPoints(n int, every time.Duration, f func(i int) (cpu, ram float64)) []metrics.Point {
	pts := make([]metrics.Point, n)
	start := chartNow.Add(-time.Duration(n) * every)
	for i := range pts {
		cpu, ram := f(i)
		pts[i] = metrics.Point{Timestamp: start.Add(time.Duration(i) * every), CPUPercent: cpu, RAMMB: ram, N: int64(i + 1)}
	}
	return pts
}

func TestMetricsChartGolden(t *testing.T) {
	t.Parallel()
	wave := chartPoints(31, 5*time.Second, func(i int) (float64, float64) {
		return 40 + 35*math.Sin(float64(i)/4), 100 + float64(i)*3.25
	})
	long := chartPoints(36_000, time.Second, func(i int) (float64, float64) {
		cpu := 20 + float64(i%97)/10
		if i == 20_017 {
			cpu = 388.8 // the one spike downsampling must keep
		}
		return cpu, 512 + float64(i%1000)/100
	})
	tests := []struct {
		name       string
		kind       string
		pts        []metrics.Point
		soft, hard float64
	}{
		{"metrics_cpu_empty.svg", "cpu", nil, 50, 100},
		{"metrics_cpu_limits.svg", "cpu", wave, 50, 100},
		{"metrics_cpu_no_limits.svg", "cpu", wave, 0, 0},
		{"metrics_ram_soft.svg", "ram", wave, 150, 0},
		{"metrics_ram_close_limits.svg", "ram", wave, 240, 256},
		{"metrics_ram_one_point.svg", "ram", wave[:1], 0, 256},
		{"metrics_cpu_downsampled.svg", "cpu", long, 150, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			checkChartGolden(t, tt.name, metricsChart(tt.kind, tt.pts, tt.soft, tt.hard))
		})
	}
}

var chartPointsAttr = regexp.MustCompile(`<polyline class="series"[^>]* points="([^"]*)"`)

func TestMetricsChartDownsample(t *testing.T) {
	t.Parallel()
	pts := chartPoints(36_000, time.Second, func(i int) (float64, float64) {
		if i == 12_345 {
			return 250, 0
		}
		return 10, 0
	})
	got := string(metricsChart("cpu", pts, 0, 0))
	m := checkChartMarkup(t, template.HTML(got))
	sm := chartPointsAttr.FindStringSubmatch(got)
	if sm == nil {
		t.Fatal("no series")
	}
	xy := strings.Fields(sm[1])
	if len(xy) > metMaxPoints || len(xy) < metMaxPoints/2 {
		t.Errorf("%d points drawn, want at most %d", len(xy), metMaxPoints)
	}
	// The axis tops out at 250*1.1, so the spike sits at the top of the
	// plot (y = metTop) and must survive the downsampling.
	spikeY := string(appendFixed(nil, metH-metBottom-250/275.0*(metH-metTop-metBottom), 1))
	spikes := 0
	for _, p := range xy {
		if strings.HasSuffix(p, ","+spikeY) {
			spikes++
		}
	}
	if spikes != 1 {
		t.Errorf("spike drawn %d times, want once", spikes)
	}
	if !slicesContain(m.titles, "peak 250 % at 3h25m") {
		t.Errorf("peak title missing from %q", m.titles)
	}
	if !slicesContain(m.texts, "275 %") || !slicesContain(m.texts, "0 %") {
		t.Errorf("y axis labels missing from %q", m.texts)
	}
	if !slicesContain(m.texts, "0s") || !slicesContain(m.texts, "9h59m") {
		t.Errorf("x axis labels missing from %q", m.texts)
	}
}

func TestMetricsChartLimits(t *testing.T) {
	t.Parallel()
	pts := chartPoints(10, time.Second, func(i int) (float64, float64) { return 0, float64(i) })
	tests := []struct {
		soft, hard float64
		want       []string
		top        string
	}{
		{0, 0, nil, "9.9 MiB"},
		{20, 0, []string{"limit-soft"}, "22 MiB"},
		{0, 30, []string{"limit-hard"}, "33 MiB"},
		{20, 30, []string{"limit-soft", "limit-hard"}, "33 MiB"},
		{math.NaN(), math.Inf(1), nil, "9.9 MiB"},
	}
	for _, tt := range tests {
		got := metricsChart("ram", pts, tt.soft, tt.hard)
		m := checkChartMarkup(t, got)
		var lines []string
		for _, c := range m.class["line"] {
			if strings.HasPrefix(c, "limit-") {
				lines = append(lines, c)
			}
		}
		if !cmp.Equal(lines, tt.want) {
			t.Errorf("soft %v hard %v: limit lines %q, want %q", tt.soft, tt.hard, lines, tt.want)
		}
		if !slicesContain(m.texts, tt.top) {
			t.Errorf("soft %v hard %v: no y max label %q in %q", tt.soft, tt.hard, tt.top, m.texts)
		}
		s := string(got)
		if strings.Contains(s, "limit-soft") && !strings.Contains(s, `class="limit-soft" x1="0" x2="1000"`) ||
			strings.Contains(s, "limit-soft") && !strings.Contains(s, `stroke="#b7791f" stroke-width="1.5" stroke-dasharray="6 4"`) ||
			strings.Contains(s, "limit-hard") && !strings.Contains(s, `stroke="#c62828" stroke-width="1.5" vector`) {
			t.Errorf("limit lines not styled by attributes:\n%s", s)
		}
	}
}

func TestMetricsChartEmptyAndUnknown(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"cpu", "ram", "disk"} {
		m := checkChartMarkup(t, metricsChart(kind, nil, 1, 2))
		if len(m.texts) != 1 {
			t.Errorf("%s: texts %q, want one placeholder", kind, m.texts)
		}
	}
}

// TestChartEscaping feeds markup in every user-controlled string: it must
// come out as text, never as elements or attributes.
func TestChartEscaping(t *testing.T) {
	t.Parallel()
	evil := []string{
		`<script>x</script>`,
		`"><img src=x onerror=alert(1)>`,
		`' onmouseover='alert(1)`,
		"bad\xffutf8\x00\x1b[31m&amp;",
	}
	for _, name := range evil {
		runs := []status.Run{
			chartRun(1, name, status.RunStatus(name), at(-time.Hour), at(-time.Hour), at(-30*time.Minute)),
			chartRun(2, name, status.RunSuccess, at(-2*time.Hour), at(-2*time.Hour), at(-time.Hour)),
		}
		runs[0].ID = name
		fires := []timelineFire{{Pipeline: name, At: chartNow.Add(time.Hour)}}
		for _, got := range []template.HTML{
			durationChart(runs),
			timelineChart(runs, fires, chartNow),
		} {
			m := checkChartMarkup(t, got)
			if strings.Contains(string(got), "<script") || strings.Contains(string(got), "<img") {
				t.Errorf("%q broke out:\n%s", name, got)
			}
			clean := strings.ToValidUTF8(strings.Map(func(r rune) rune {
				if r < 0x20 && r != '\t' && r != '\n' {
					return -1
				}
				return r
			}, name), "\uFFFD")
			found := false
			for _, ti := range m.titles {
				found = found || strings.Contains(ti, " · "+clean+" · ")
			}
			if !found {
				t.Errorf("%q not in the tooltips %q", clean, m.titles)
			}
		}
	}
}

func TestChartDurationFormat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		d    time.Duration
		want string
	}{
		{-time.Second, "0s"},
		{0, "0s"},
		{40 * time.Millisecond, "0s"},
		{50 * time.Millisecond, "0.1s"},
		{4200 * time.Millisecond, "4.2s"},
		{5 * time.Second, "5s"},
		{9960 * time.Millisecond, "10s"},
		{45 * time.Second, "45s"},
		{2 * time.Minute, "2m"},
		{150 * time.Second, "2m30s"},
		{125 * time.Second, "2m05s"},
		{time.Hour, "1h"},
		{time.Hour + 5*time.Minute + 59*time.Second, "1h05m"},
		{36 * time.Hour, "36h"},
	}
	for _, tt := range tests {
		if got := string(appendChartDuration(nil, tt.d)); got != tt.want {
			t.Errorf("%v: got %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestChartFixedFormat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		v    float64
		prec int
		want string
	}{
		{0, 1, "0"},
		{math.Copysign(0, -1), 1, "0"},
		{-0.04, 1, "0"},
		{-0.06, 1, "-0.1"},
		{12.34, 1, "12.3"},
		{12.96, 1, "13"},
		{100, 2, "100"},
		{33.3333, 2, "33.33"},
		{math.NaN(), 1, "0"},
		{math.Inf(-1), 1, "0"},
	}
	for _, tt := range tests {
		if got := string(appendFixed(nil, tt.v, tt.prec)); got != tt.want {
			t.Errorf("%v/%d: got %q, want %q", tt.v, tt.prec, got, tt.want)
		}
	}
	// The integer formatting must agree with strconv's on the rounded value.
	ref := func(v float64, prec int) string {
		p := math.Pow10(prec)
		s := strconv.FormatFloat(math.Round(v*p)/p, 'f', prec, 64)
		if strings.Contains(s, ".") {
			s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
		}
		if s == "-0" {
			s = "0"
		}
		return s
	}
	v := 0.000123
	for i := 0; v < 1e9; i++ {
		for _, prec := range []int{1, 2} {
			x := v
			if i%2 == 1 {
				x = -v
			}
			if got, want := string(appendFixed(nil, x, prec)), ref(x, prec); got != want {
				t.Fatalf("%v/%d: got %q, strconv %q", x, prec, got, want)
			}
		}
		v = v*1.0073 + 0.0011
	}
}

func TestShortRunID(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":                                     "",
		"abc":                                  "abc",
		"0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b": "2e3f4a5b",
	} {
		if got := shortRunID(in); got != want {
			t.Errorf("%q: got %q, want %q", in, got, want)
		}
	}
}

func BenchmarkDurationChart(b *testing.B) {
	runs := make([]status.Run, 50)
	for i := range runs {
		start := -time.Duration(i+1) * time.Hour
		runs[i] = chartRun(i, "nightly-report", status.RunSuccess, at(start), at(start), at(start+time.Duration(i+30)*time.Second))
	}
	b.ReportAllocs()
	for b.Loop() {
		durationChart(runs)
	}
}

func BenchmarkTimelineChart(b *testing.B) {
	runs := make([]status.Run, 2000)
	for i := range runs {
		start := -time.Duration(i) * 43 * time.Second
		st := status.RunSuccess
		if i%9 == 0 {
			st = status.RunFailed
		}
		runs[i] = chartRun(i, fmt.Sprintf("pipeline-%02d", i%20), st, at(start), at(start), at(start+time.Duration(i%300)*time.Second))
	}
	fires := make([]timelineFire, 20)
	for i := range fires {
		fires[i] = timelineFire{Pipeline: fmt.Sprintf("pipeline-%02d", i), At: chartNow.Add(time.Duration(i) * 7 * time.Minute)}
	}
	b.ReportAllocs()
	var size int
	for b.Loop() {
		size = len(timelineChart(runs, fires, chartNow))
	}
	b.ReportMetric(float64(size), "bytes/chart")
}

func BenchmarkMetricsChart(b *testing.B) {
	pts := chartPoints(36_000, time.Second, func(i int) (float64, float64) {
		return float64(i%250) / 2, 100 + float64(i%1000)/10
	})
	b.ReportAllocs()
	for b.Loop() {
		metricsChart("cpu", pts, 80, 100)
	}
}

// TestMetricsChartBadReadings: corrupt readings and a clock that did not
// move must still give a valid chart.
func TestMetricsChartBadReadings(t *testing.T) {
	t.Parallel()
	bad := chartPoints(5, time.Second, func(i int) (float64, float64) {
		return []float64{math.NaN(), -5, math.Inf(1), 12, math.Inf(-1)}[i], 1
	})
	frozen := chartPoints(1000, 0, func(i int) (float64, float64) { return float64(i % 10), 0 })
	for name, pts := range map[string][]metrics.Point{"bad": bad, "frozen": frozen} {
		got := string(metricsChart("cpu", pts, 0, 0))
		checkChartMarkup(t, template.HTML(got))
		if strings.Contains(got, "NaN") || strings.Contains(got, "Inf") {
			t.Errorf("%s: non-finite number in\n%s", name, got)
		}
		sm := chartPointsAttr.FindStringSubmatch(got)
		if sm == nil || len(strings.Fields(sm[1])) > metMaxPoints {
			t.Errorf("%s: series %q", name, sm)
		}
	}
}
