package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func runCmd(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(args, &out, &errOut)
	if code != 0 {
		t.Logf("logos-sim %s: %s", strings.Join(args, " "), errOut.String())
	}
	return out.String(), code
}

func genFile(t *testing.T, args ...string) string {
	t.Helper()
	out, code := runCmd(t, append([]string{"gen"}, args...)...)
	if code != 0 {
		t.Fatal("gen failed")
	}
	f := filepath.Join(t.TempDir(), "trace.csv")
	if err := os.WriteFile(f, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestRunJSONFields(t *testing.T) {
	trace := genFile(t, "-n", "120", "-seed", "4", "-kind", "eccs")
	plot := filepath.Join(t.TempDir(), "p.svg")
	out, code := runCmd(t, "run", "-trace", trace, "-scheduler", "logos", "-seed", "2", "-plot", plot)
	if code != 0 {
		t.Fatal("run failed")
	}
	dec := json.NewDecoder(strings.NewReader(out))
	tok, _ := dec.Token()
	if tok != json.Delim('{') {
		t.Fatalf("output is not an object: %s", out)
	}
	var keys []string
	for dec.More() {
		k, _ := dec.Token()
		keys = append(keys, k.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"trace", "profile", "scheduler", "seed", "requests", "completed", "failed", "scheduler_errors",
		"ttft_s", "ttft_s_by_priority", "queue_wait_s", "tpot_ms", "e2e_s", "makespan_s", "wakes", "loads", "sleeps",
		"unloads", "quality_regret", "git_commit", "trace_sha256", "profile_sha256"}
	if !slices.Equal(keys, want) {
		t.Errorf("keys = %v\nwant %v", keys, want)
	}
	var s struct {
		Requests int `json:"requests"`
		TTFT     struct {
			P50, P95, P99, Max float64
		} `json:"ttft_s"`
		ByP map[string]map[string]float64 `json:"ttft_s_by_priority"`
	}
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatal(err)
	}
	if s.Requests != 120 || s.TTFT.Max < s.TTFT.P50 || len(s.ByP) != 3 {
		t.Errorf("summary = %+v", s)
	}
	svg, err := os.ReadFile(plot)
	if err != nil {
		t.Fatal(err)
	}
	d := xml.NewDecoder(bytes.NewReader(svg))
	for {
		if _, err := d.Token(); err != nil {
			if err.Error() != "EOF" {
				t.Fatalf("plot is not well-formed XML: %v", err)
			}
			break
		}
	}
}

func TestCompareAndGrid(t *testing.T) {
	a := genFile(t, "-n", "90", "-seed", "1")
	b := genFile(t, "-n", "90", "-seed", "2", "-arrivals", "bursty", "-kind", "explicit-coder3")
	dir := t.TempDir()
	out, code := runCmd(t, "compare", "-trace", a+","+b, "-schedulers", "ettft,fcfs,logos", "-seeds", "1-2", "-out", dir)
	if code != 0 {
		t.Fatal("compare failed")
	}
	if n := strings.Count(out, "\n| trace |"); n != 7 {
		t.Errorf("compare table has %d lines, want a header and 6 rows:\n%s", n, out)
	}
	if n := strings.Count(out, "| 1.00 | 1.00 |"); n != 2 {
		t.Errorf("%d ettft rows with ratio 1, want one per trace:\n%s", n, out)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(files) != 12 {
		t.Errorf("-out wrote %d files, want 12", len(files))
	}
	out, code = runCmd(t, "compare", "-trace", a, "-schedulers", "ettft,logos", "-seeds", "1", "-grid")
	if code != 0 {
		t.Fatal("compare -grid failed")
	}
	if n := strings.Count(out, "\n| sleep="); n != 36 {
		t.Errorf("grid table has %d rows, want 36", n)
	}
}

func TestBadUsage(t *testing.T) {
	for _, args := range [][]string{
		{}, {"frobnicate"}, {"run"}, {"run", "-trace", "/nonexistent", "-scheduler", "logos"},
		{"compare", "-trace", "x", "-schedulers", "nope"}, {"gen", "-kind", "nope"}, {"compare", "-trace", "x", "-seeds", "5-1"},
	} {
		if _, code := runCmd(t, args...); code == 0 {
			t.Errorf("logos-sim %v exited 0", args)
		}
	}
}

func TestValidateSharedTraces(t *testing.T) {
	if _, err := os.Stat("/work/shared/workloads/workload_explicit_hw3_even_random_150_10m.csv"); err != nil {
		t.Skip("shared traces not present")
	}
	out, _ := runCmd(t, "validate")
	if !strings.Contains(out, "| engine deepseek-r1-8b-fp16 tok/s @32 |") || !strings.Contains(out, "ettft hw3-300 TTFT p95") {
		t.Errorf("validate output lacks checks:\n%s", out)
	}
}
