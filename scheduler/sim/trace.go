package sim

import (
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/logos-llm/logos/scheduler"
	"github.com/logos-llm/logos/scheduler/core"
)

// DefaultMaxTokens is the max_tokens of a row whose body sets none.
const DefaultMaxTokens = 256

// ErrBadTrace means a trace file could not be read.
var ErrBadTrace = errors.New("sim: bad trace")

// Row is one request of a trace.
type Row struct {
	ID        string
	ArrivalMS int64
	// Interactive is false for mode "batch".
	Interactive bool
	Priority    scheduler.Priority
	// Model is the requested model; empty for policy-routed rows, whose
	// Class is then set from the request id.
	Model string
	Class string
	// Candidates is the model for explicit rows (weight 1) or the class's
	// list for policy-routed rows, best first.
	Candidates   []core.Candidate
	PromptTokens int
	MaxTokens    int
}

// Trace is a parsed trace.
type Trace struct {
	Name   string
	SHA256 string
	Rows   []Row
}

// Classes maps a policy class to its candidates, best first.
type Classes map[string][]core.Candidate

// DefaultClasses returns the built-in "medium" ECCS class mapping.
func DefaultClasses() Classes {
	c, err := parseClasses(mustBuiltin("profiles/classes-medium.json"))
	if err != nil {
		panic(err) // the embedded file is tested
	}
	return c
}

func mustBuiltin(name string) []byte {
	b, err := builtin.ReadFile(name)
	if err != nil {
		panic(err)
	}
	return b
}

// LoadClasses reads a classes JSON file: {"class": [{"model", "weight"}…]}.
func LoadClasses(file string) (Classes, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("sim: classes: %w", err)
	}
	return parseClasses(data)
}

func parseClasses(data []byte) (Classes, error) {
	var raw map[string][]struct {
		Model  string  `json:"model"`
		Weight float64 `json:"weight"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("sim: classes: %w", err)
	}
	c := make(Classes, len(raw))
	for k, v := range raw {
		for _, e := range v {
			c[k] = append(c[k], core.Candidate{Model: e.Model, Weight: e.Weight})
		}
	}
	return c, nil
}

// ReadTraceFile reads a trace CSV from a file.
func ReadTraceFile(path string, classes Classes) (*Trace, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadTrace, err)
	}
	name := path
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		name = name[i+1:]
	}
	return ParseTrace(name, data, classes)
}

// ParseTrace reads the original's CSV format
// (request_id,arrival_offset,mode,priority,body_json). Rows are kept in
// arrival order (stable for equal offsets). Prompt tokens are
// ceil(chars/4) + 4 per message + 3, where chars counts the characters of all
// message contents.
func ParseTrace(name string, data []byte, classes Classes) (*Trace, error) {
	sum := sha256.Sum256(data)
	t := &Trace{Name: name, SHA256: hex.EncodeToString(sum[:])}
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = 5
	head, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("%w: %s: header: %w", ErrBadTrace, name, err)
	}
	if strings.Join(head, ",") != "request_id,arrival_offset,mode,priority,body_json" {
		return nil, fmt.Errorf("%w: %s: header %q", ErrBadTrace, name, strings.Join(head, ","))
	}
	for line := 2; ; line++ {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrBadTrace, name, err)
		}
		row, err := parseRow(rec, classes)
		if err != nil {
			return nil, fmt.Errorf("%w: %s line %d: %w", ErrBadTrace, name, line, err)
		}
		t.Rows = append(t.Rows, row)
	}
	sortRows(t.Rows)
	return t, nil
}

func sortRows(rows []Row) {
	// insertion-stable sort by arrival; traces are nearly sorted
	for i := 1; i < len(rows); i++ {
		for j := i; j > 0 && rows[j].ArrivalMS < rows[j-1].ArrivalMS; j-- {
			rows[j], rows[j-1] = rows[j-1], rows[j]
		}
	}
}

type body struct {
	Model     string `json:"model"`
	MaxTokens *int   `json:"max_tokens"`
	Messages  []struct {
		Content json.RawMessage `json:"content"`
	} `json:"messages"`
}

func parseRow(rec []string, classes Classes) (Row, error) {
	var row Row
	row.ID = rec[0]
	off, err := strconv.ParseFloat(strings.TrimSpace(rec[1]), 64)
	if err != nil || off < 0 {
		return row, fmt.Errorf("arrival_offset %q", rec[1])
	}
	row.ArrivalMS = int64(math.Round(off))
	switch rec[2] {
	case "interactive", "":
		row.Interactive = true
	case "batch":
	default:
		return row, fmt.Errorf("mode %q", rec[2])
	}
	row.Priority = scheduler.ParsePriority(rec[3])
	var b body
	if err := json.Unmarshal([]byte(rec[4]), &b); err != nil {
		return row, fmt.Errorf("body_json: %w", err)
	}
	row.MaxTokens = DefaultMaxTokens
	if b.MaxTokens != nil && *b.MaxTokens > 0 {
		row.MaxTokens = *b.MaxTokens
	}
	chars := 0
	for _, m := range b.Messages {
		chars += contentChars(m.Content)
	}
	row.PromptTokens = (chars+3)/4 + 4*len(b.Messages) + 3
	if b.Model != "" {
		row.Model = b.Model
		row.Candidates = []core.Candidate{{Model: b.Model, Weight: 1}}
		return row, nil
	}
	row.Class = ClassOf(row.ID)
	cands, ok := classes[row.Class]
	if !ok {
		return row, fmt.Errorf("row %s: no model and class %q is not in the classes file", row.ID, row.Class)
	}
	row.Candidates = cands
	return row, nil
}

// ClassOf returns the category of a policy-routed request id: the middle of
// "prefix-category-number" ("eccs-code_quick-0001" → "code_quick"); an id
// without two dashes is its own class.
func ClassOf(id string) string {
	i := strings.IndexByte(id, '-')
	j := strings.LastIndexByte(id, '-')
	if i < 0 || j <= i {
		return id
	}
	return id[i+1 : j]
}

// contentChars counts the characters of a message content: a string, or an
// array of parts whose "text" fields count.
func contentChars(raw json.RawMessage) int {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return utf8.RuneCountInString(s)
	}
	var parts []struct {
		Text string `json:"text"`
	}
	if json.Unmarshal(raw, &parts) == nil {
		n := 0
		for _, p := range parts {
			n += utf8.RuneCountInString(p.Text)
		}
		return n
	}
	return 0
}

// OutputTokens returns a row's hidden output length: max(1,
// round(max_tokens·r)) with r uniform on [2m−1, 1] (mean m, the completion
// ratio; m = 0.65 gives the spec's U(0.30, 1.00)), drawn from a hash of
// (request id, seed) so every scheduler sees the same lengths.
func OutputTokens(id string, maxTokens int, seed uint64, ratio float64) int {
	h := fnv.New64a()
	h.Write([]byte(id))
	var b [8]byte
	for i := range b {
		b[i] = byte(seed >> (8 * i))
	}
	h.Write(b[:])
	x := h.Sum64()
	// finalize (splitmix64) so nearby ids spread
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	u := float64(x>>11) / (1 << 53)
	lo := min(max(2*ratio-1, 0), 1)
	r := lo + (1-lo)*u
	return max(1, int(math.Round(float64(maxTokens)*r)))
}
