package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Report is the result of a run, written as report.md and report.json.
type Report struct {
	Command  string         `json:"command"`
	Started  time.Time      `json:"started"`
	Machine  Machine        `json:"machine"`
	Settings Settings       `json:"settings"`
	Targets  []TargetReport `json:"targets"`
	Notes    []string       `json:"notes,omitempty"`
}

// Settings are the load parameters of a run.
type Settings struct {
	Mode            string  `json:"mode"`
	Clients         int     `json:"clients,omitempty"`
	RPS             float64 `json:"rps,omitempty"`
	DurationSeconds float64 `json:"duration_seconds"`
	Rounds          int     `json:"rounds"`
	Stream          bool    `json:"stream"`
	Chunks          int     `json:"chunks"`
	ChunkIntervalMS float64 `json:"chunk_interval_ms"`
	LatencyMS       float64 `json:"upstream_latency_ms"`
	WarmupSeconds   float64 `json:"warmup_seconds,omitempty"`
	// ProxyGC says how the bare proxy's collector was set.
	ProxyGC string `json:"proxy_gc,omitempty"`
}

// TargetReport is what was measured on one target, over all rounds.
type TargetReport struct {
	Name string `json:"name"`
	// Requests are the load requests sent, errors included.
	Requests   int     `json:"requests"`
	Errors     int     `json:"errors"`
	FirstError string  `json:"first_error,omitempty"`
	Seconds    float64 `json:"load_seconds"`
	RPS        float64 `json:"requests_per_second"`
	// Latency is to the last byte; for open-loop runs from the scheduled
	// start.
	Latency Quantiles `json:"latency"`
	// TTFB is the time to the first body byte, reported for streams.
	TTFB *Quantiles `json:"ttfb,omitempty"`
	// TTFBOverUpstream is, for streams, the distribution of each request's
	// time to first byte (from when it was sent) less the mock's own wait
	// before its first byte: what the client, the target and loopback added
	// to that request's first byte. For the direct target it is the floor.
	TTFBOverUpstream *Quantiles `json:"ttfb_over_upstream,omitempty"`
	// Overhead is the distribution of X-Logos-Overhead-Ms, the time Logos
	// reports it spent on each request itself, upstream excluded; absent
	// for targets that do not send it.
	Overhead *Quantiles `json:"logos_overhead,omitempty"`
	// CPU and memory of the target's own process; absent for in-process
	// targets.
	CPUSeconds      *float64 `json:"cpu_seconds,omitempty"`
	CPUSecondsPer1k *float64 `json:"cpu_seconds_per_1k_requests,omitempty"`
	// CPUPer1kByRound is CPUSecondsPer1k for each round on its own, in
	// round order, so the machine's drift during the run can be seen.
	CPUPer1kByRound  []float64 `json:"cpu_seconds_per_1k_requests_by_round,omitempty"`
	PeakRSSMB        *float64  `json:"peak_rss_mb,omitempty"`
	RequestsSent     int       `json:"requests_sent_total,omitempty"`
	UsageRecords     *int64    `json:"usage_records,omitempty"`
	UsageRecordsOK   *bool     `json:"usage_records_match,omitempty"`
	UsageCountFailed string    `json:"usage_count_error,omitempty"`
	// DroppedRecords is logosd's logos_usage_records_dropped_total at the
	// end of the load (before shutdown); absent for other targets.
	DroppedRecords     *float64 `json:"usage_records_dropped,omitempty"`
	DroppedScrapeError string   `json:"usage_records_dropped_error,omitempty"`
}

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }

// per1k is cpu as seconds per 1,000 of n requests (n > 0), rounded.
func per1k(cpu time.Duration, n int) float64 {
	return round3(cpu.Seconds() * 1000 / float64(n))
}

// newTargetReport summarises res, sorting its samples.
func newTargetReport(name string, res LoadResult, stream bool) TargetReport {
	tr := TargetReport{
		Name:       name,
		Requests:   res.Requests,
		Errors:     res.Errors,
		FirstError: res.FirstError,
		Seconds:    round3(res.Elapsed.Seconds()),
		Latency:    quantiles(res.Latency),
	}
	if res.Elapsed > 0 {
		tr.RPS = round3(float64(res.Requests) / res.Elapsed.Seconds())
	}
	if stream {
		q := quantiles(res.TTFB)
		tr.TTFB = &q
		if len(res.OverUpstream) > 0 {
			q := quantiles(res.OverUpstream)
			tr.TTFBOverUpstream = &q
		}
	}
	if len(res.Overhead) > 0 {
		q := quantiles(res.Overhead)
		tr.Overhead = &q
	}
	return tr
}

// WriteMarkdown writes r as a markdown document.
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	s := r.Settings
	fmt.Fprintf(&b, "# logos-bench report\n\n")
	fmt.Fprintf(&b, "- Command: `%s`\n", r.Command)
	fmt.Fprintf(&b, "- Started: %s\n", r.Started.UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "- Machine: %d CPUs, %s, %s, %s\n", r.Machine.CPUs, orDash(r.Machine.CPUModel), r.Machine.OS, r.Machine.GoVersion)
	load := fmt.Sprintf("closed loop, %d clients", s.Clients)
	if s.Mode == "open" {
		load = fmt.Sprintf("open loop, %g requests/s (latency from the scheduled start)", s.RPS)
	}
	if s.WarmupSeconds > 0 {
		load += fmt.Sprintf(", %gs warm-up (clients ramped up, not sampled) before each measurement", s.WarmupSeconds)
	}
	fmt.Fprintf(&b, "- Load: %s, %d rounds of %gs per target, targets alternating\n", load, s.Rounds, s.DurationSeconds)
	kind := "JSON"
	if s.Stream {
		kind = fmt.Sprintf("SSE, %d chunks %g ms apart", s.Chunks, s.ChunkIntervalMS)
	}
	fmt.Fprintf(&b, "- Upstream (mock): %s, %g ms before the first byte\n", kind, s.LatencyMS)
	if s.ProxyGC != "" {
		fmt.Fprintf(&b, "- Bare proxy's GC: %s\n", s.ProxyGC)
	}
	b.WriteString("\n")

	fmt.Fprintf(&b, "| target | req/s | p50 ms | p90 ms | p99 ms | p99.9 ms |")
	if s.Stream {
		fmt.Fprintf(&b, " TTFB p50 ms | TTFB p99 ms | TTFB over upstream p50 ms | p99 ms |")
	}
	fmt.Fprintf(&b, " X-Logos-Overhead-Ms p50 | p99 | requests | errors | CPU s / 1k req | peak RSS MB | usage records / requests sent |\n")
	fmt.Fprintf(&b, "|---|---:|---:|---:|---:|---:|")
	if s.Stream {
		fmt.Fprintf(&b, "---:|---:|---:|---:|")
	}
	fmt.Fprintf(&b, "---:|---:|---:|---:|---:|---:|---|\n")
	for _, t := range r.Targets {
		fmt.Fprintf(&b, "| %s | %.1f | %.3f | %.3f | %.3f | %.3f |", t.Name, t.RPS, t.Latency.P50, t.Latency.P90, t.Latency.P99, t.Latency.P999)
		if s.Stream {
			b.WriteString(p50p99Cells(t.TTFB) + p50p99Cells(t.TTFBOverUpstream))
		}
		b.WriteString(p50p99Cells(t.Overhead))
		fmt.Fprintf(&b, " %d | %d | %s | %s | %s |\n", t.Requests, t.Errors, optF(t.CPUSecondsPer1k, "%.3f"), optF(t.PeakRSSMB, "%.1f"), usageCell(t))
	}
	writeCPUByRound(&b, r.Targets)
	if len(r.Notes) > 0 || anyError(r.Targets) {
		fmt.Fprintf(&b, "\nNotes:\n\n")
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
		for _, t := range r.Targets {
			if t.FirstError != "" {
				fmt.Fprintf(&b, "- %s: first error: %s\n", t.Name, t.FirstError)
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// p50p99Cells returns the p50 and p99 table cells of q, dashes when it is
// absent.
func p50p99Cells(q *Quantiles) string {
	if q == nil {
		return " - | - |"
	}
	return fmt.Sprintf(" %.3f | %.3f |", q.P50, q.P99)
}

// writeCPUByRound writes each target's CPU per 1,000 requests round by
// round and, where the run had the proxy target, its ratio to the proxy's in
// the same round. Nothing is written for a single round.
func writeCPUByRound(b *strings.Builder, ts []TargetReport) {
	rounds := 0
	var proxy []float64
	for _, t := range ts {
		rounds = max(rounds, len(t.CPUPer1kByRound))
		if t.Name == "proxy" {
			proxy = t.CPUPer1kByRound
		}
	}
	if rounds < 2 {
		return
	}
	fmt.Fprintf(b, "\nCPU s / 1k requests by round")
	if proxy != nil {
		fmt.Fprintf(b, " (ratio to the proxy's in the same round)")
	}
	fmt.Fprintf(b, ":\n\n| target |")
	for i := range rounds {
		fmt.Fprintf(b, " round %d |", i+1)
	}
	fmt.Fprintf(b, "\n|---|%s\n", strings.Repeat("---:|", rounds))
	for _, t := range ts {
		if len(t.CPUPer1kByRound) == 0 {
			continue
		}
		fmt.Fprintf(b, "| %s |", t.Name)
		for i := range rounds {
			if i >= len(t.CPUPer1kByRound) {
				fmt.Fprintf(b, " - |")
				continue
			}
			v := t.CPUPer1kByRound[i]
			if t.Name != "proxy" && i < len(proxy) && proxy[i] > 0 {
				fmt.Fprintf(b, " %.3f (%.2f×) |", v, v/proxy[i])
			} else {
				fmt.Fprintf(b, " %.3f |", v)
			}
		}
		fmt.Fprintf(b, "\n")
	}
}

func anyError(ts []TargetReport) bool {
	for _, t := range ts {
		if t.FirstError != "" {
			return true
		}
	}
	return false
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func optF(v *float64, format string) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf(format, *v)
}

func usageCell(t TargetReport) string {
	switch {
	case t.UsageCountFailed != "":
		return "count failed: " + t.UsageCountFailed
	case t.UsageRecords == nil:
		return "-"
	}
	mark := "equal"
	if t.UsageRecordsOK == nil || !*t.UsageRecordsOK {
		mark = "**MISMATCH**"
	}
	cell := fmt.Sprintf("%d / %d (%s; %d warm-up included)", *t.UsageRecords, t.RequestsSent, mark, t.RequestsSent-t.Requests)
	switch {
	case t.DroppedScrapeError != "":
		cell += "; dropped metric not read: " + t.DroppedScrapeError
	case t.DroppedRecords != nil && *t.DroppedRecords != 0:
		cell += fmt.Sprintf("; **%s %g**", droppedMetric, *t.DroppedRecords)
	case t.DroppedRecords != nil:
		cell += "; " + droppedMetric + " 0"
	}
	return cell
}

// Write writes report.md and report.json into dir, creating it.
func (r *Report) Write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var md strings.Builder
	if err := r.WriteMarkdown(&md); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "report.md"), []byte(md.String()), 0o644); err != nil {
		return err
	}
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "report.json"), append(js, '\n'), 0o644)
}
