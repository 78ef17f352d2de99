package metrics

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
	"time"
)

// TestDecodePointMatchesJSON: the fast path reads exactly what
// encoding/json reads, for what the Writer writes and for lines it does
// not (other field order, spaces, missing fields), which take the slow
// path.
func TestDecodePointMatchesJSON(t *testing.T) {
	t.Parallel()
	ts := time.Date(2026, 11, 27, 9, 58, 12, 123456789, time.UTC)
	var lines [][]byte
	for _, p := range []Point{
		{Timestamp: ts, CPUPercent: 7.6, RAMMB: 20.2, RAMLimitMB: 64},
		{Timestamp: ts.Add(time.Second), CPUPercent: 0, RAMMB: 0.01, SoftLimitExceeded: true, Throttled: true},
		{Timestamp: ts.Truncate(time.Second), CPUPercent: 1234.56, RAMMB: 1e9, RAMLimitMB: 1.5e-7},
		{Timestamp: ts, CPUPercent: math.MaxFloat64, RAMMB: -1},
	} {
		var buf bytes.Buffer
		if err := json.NewEncoder(&buf).Encode(p); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, buf.Bytes())
	}
	lines = append(lines,
		[]byte(`{"cpu_percent":3,"timestamp":"2026-11-27T09:58:12Z","ram_mb":2,"ram_limit_mb":0,"soft_limit_exceeded":false,"throttled":false}`+"\n"),
		[]byte(`{ "timestamp": "2026-11-27T09:58:12Z", "cpu_percent": 3 }`),
		[]byte(`{"timestamp":"2026-11-27T09:58:12Z","cpu_percent":3,"ram_mb":2,"ram_limit_mb":0,"soft_limit_exceeded":false,"throttled":false,"extra":1}`),
		[]byte(`{"timestamp":"2026-11-27T09:58:12+01:00","cpu_percent":3,"ram_mb":2,"ram_limit_mb":0,"soft_limit_exceeded":false,"throttled":false}`),
	)
	for _, line := range lines {
		var want, got Point
		wantErr := json.Unmarshal(line, &want)
		gotErr := decodePoint(line, &got)
		if (wantErr != nil) != (gotErr != nil) || !got.Timestamp.Equal(want.Timestamp) || got.CPUPercent != want.CPUPercent ||
			got.RAMMB != want.RAMMB || got.RAMLimitMB != want.RAMLimitMB || got.SoftLimitExceeded != want.SoftLimitExceeded || got.Throttled != want.Throttled {
			t.Errorf("decode %s:\n got %+v, %v\nwant %+v, %v", line, got, gotErr, want, wantErr)
		}
	}
	for _, bad := range []string{`{"timestamp":"yesterday","cpu_percent":1}`, `{"timestamp":"2026-11-27T09:58:12Z","cpu_percent":1e999}`, `not json`, ``} {
		var p Point
		if err := decodePoint([]byte(bad), &p); err == nil {
			t.Errorf("decode %q: no error, got %+v", bad, p)
		}
	}
}

func BenchmarkDecodePoint(b *testing.B) {
	var buf bytes.Buffer
	_ = json.NewEncoder(&buf).Encode(Point{Timestamp: time.Now().UTC(), CPUPercent: 42.5, RAMMB: 123.45, RAMLimitMB: 512})
	line := buf.Bytes()
	for b.Loop() {
		var p Point
		if err := decodePoint(line, &p); err != nil {
			b.Fatal(err)
		}
	}
}
