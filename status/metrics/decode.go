package metrics

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"
)

// decodePoint reads one line of a metrics file. The Writer always writes
// the same fields in the same order, so the fast path reads them in place;
// a run page draws an hour of points (3,600) and encoding/json took 4 µs
// each. Any other shape, such as a file from an older version, goes
// through encoding/json and decodes all the same.
func decodePoint(line []byte, p *Point) error {
	if fastDecodePoint(bytes.TrimRight(line, "\r\n"), p) {
		return nil
	}
	*p = Point{}
	return json.Unmarshal(line, p)
}

// fastDecodePoint decodes what Writer.Write writes, reporting false for
// anything else.
func fastDecodePoint(b []byte, p *Point) bool {
	var ok bool
	if b, ok = cutPrefix(b, `{"timestamp":"`); !ok {
		return false
	}
	end := bytes.IndexByte(b, '"')
	if end < 0 {
		return false
	}
	ts, err := time.Parse(time.RFC3339Nano, string(b[:end]))
	if err != nil {
		return false
	}
	b = b[end+1:]
	var cpu, ram, limit float64
	var soft, thr bool
	if b, cpu, ok = numberField(b, `,"cpu_percent":`); !ok {
		return false
	}
	if b, ram, ok = numberField(b, `,"ram_mb":`); !ok {
		return false
	}
	if b, limit, ok = numberField(b, `,"ram_limit_mb":`); !ok {
		return false
	}
	if b, soft, ok = boolField(b, `,"soft_limit_exceeded":`); !ok {
		return false
	}
	if b, thr, ok = boolField(b, `,"throttled":`); !ok {
		return false
	}
	if string(b) != "}" {
		return false
	}
	*p = Point{Timestamp: ts, CPUPercent: cpu, RAMMB: ram, RAMLimitMB: limit, SoftLimitExceeded: soft, Throttled: thr}
	return true
}

func cutPrefix(b []byte, prefix string) ([]byte, bool) {
	if len(b) < len(prefix) || string(b[:len(prefix)]) != prefix {
		return b, false
	}
	return b[len(prefix):], true
}

func numberField(b []byte, key string) ([]byte, float64, bool) {
	b, ok := cutPrefix(b, key)
	if !ok {
		return b, 0, false
	}
	i := 0
	for i < len(b) && (b[i] == '-' || b[i] == '+' || b[i] == '.' || b[i] == 'e' || b[i] == 'E' || (b[i] >= '0' && b[i] <= '9')) {
		i++
	}
	v, err := strconv.ParseFloat(string(b[:i]), 64)
	if err != nil {
		return b, 0, false
	}
	return b[i:], v, true
}

func boolField(b []byte, key string) ([]byte, bool, bool) {
	b, ok := cutPrefix(b, key)
	if !ok {
		return b, false, false
	}
	if rest, ok := cutPrefix(b, "true"); ok {
		return rest, true, true
	}
	if rest, ok := cutPrefix(b, "false"); ok {
		return rest, false, true
	}
	return b, false, false
}
