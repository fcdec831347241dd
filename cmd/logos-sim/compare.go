package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/logos-llm/logos/scheduler/sim"
)

// parseSeeds reads "1-5" or "1,3,7".
func parseSeeds(s string) ([]uint64, error) {
	var out []uint64
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.ParseUint(strings.TrimSpace(lo), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("seeds %q: %w", s, err)
		}
		b := a
		if isRange {
			if b, err = strconv.ParseUint(strings.TrimSpace(hi), 10, 64); err != nil || b < a {
				return nil, fmt.Errorf("seeds %q: bad range", s)
			}
		}
		for x := a; x <= b; x++ {
			out = append(out, x)
		}
	}
	return out, nil
}

// runAll executes specs on GOMAXPROCS workers; results keep spec order.
func runAll(specs []spec) ([]sim.Summary, error) {
	out := make([]sim.Summary, len(specs))
	errs := make([]error, len(specs))
	var wg sync.WaitGroup
	next := make(chan int)
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for i := range next {
				out[i], errs[i] = execute(specs[i])
			}
		})
	}
	for i := range specs {
		next <- i
	}
	close(next)
	wg.Wait()
	return out, errors.Join(errs...)
}

func median(xs []float64) float64 { return sim.Percentile(slices.Clone(xs), 50) }

// row is the medians over seeds of one (variant, trace, scheduler).
type row struct {
	ti                        int // trace index, as trace names may repeat
	variant, trace, scheduler string
	p50, p95, hi95, tpot95    float64
	swaps, failed, errs       float64
	fair, regret              float64
}

func aggregate(variant string, sums []sim.Summary) row {
	r := row{variant: variant, trace: sums[0].Trace, scheduler: sums[0].Scheduler}
	col := func(f func(s *sim.Summary) float64) float64 {
		xs := make([]float64, len(sums))
		for i := range sums {
			xs[i] = f(&sums[i])
		}
		return median(xs)
	}
	r.p50 = col(func(s *sim.Summary) float64 { return s.TTFT.P50 })
	r.p95 = col(func(s *sim.Summary) float64 { return s.TTFT.P95 })
	r.hi95 = col(func(s *sim.Summary) float64 { return s.TTFTByPriority.High.P95 })
	r.tpot95 = col(func(s *sim.Summary) float64 { return s.TPOT.P95 })
	r.swaps = col(func(s *sim.Summary) float64 { return float64(s.Wakes + s.Loads) })
	r.failed = col(func(s *sim.Summary) float64 { return float64(s.Failed) })
	r.errs = col(func(s *sim.Summary) float64 { return float64(s.SchedulerErrors) })
	r.fair = col(func(s *sim.Summary) float64 { return s.Fairness() })
	r.regret = col(func(s *sim.Summary) float64 { return s.QualityRegret })
	return r
}

type variant struct {
	name  string
	sleep float64 // 0 keeps the profile
	ratio float64
	phi   float64 // <0 keeps the profile
}

func cmdCompare(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	traces := fs.String("trace", "", "comma-separated trace CSV files")
	names := fs.String("schedulers", "ettft,fcfs,logos", "comma-separated schedulers")
	seeds := fs.String("seeds", "1-5", "seeds: 1-5 or 1,2,3")
	profile := fs.String("profile", "logos-2x16", "physics profile: built-in name or JSON file")
	classes := fs.String("classes", "", "classes JSON for policy-routed rows")
	grid := fs.Bool("grid", false, "run the sensitivity grid: sleep 1/3/10 s × completion ratio 0.5/0.65/0.9 × colocation 0.5/1.0")
	out := fs.String("out", "", "write every run's JSON into this folder")
	tune := fs.String("logos-tune", "", "logos tuning: maxwait high,normal,low seconds and tenure")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := parseTune(*tune); err != nil {
		return err
	}
	if *traces == "" {
		return errors.New("compare needs -trace")
	}
	seedList, err := parseSeeds(*seeds)
	if err != nil {
		return err
	}
	scheds := strings.Split(*names, ",")
	for _, n := range scheds {
		if !slices.Contains(schedulers, n) {
			return fmt.Errorf("%w %q", errUnknownScheduler, n)
		}
	}
	variants := []variant{{name: "base", ratio: 0.65, phi: -1}}
	if *grid {
		variants = nil
		for _, sl := range []float64{1, 3, 10} {
			for _, cr := range []float64{0.5, 0.65, 0.9} {
				for _, phi := range []float64{0.5, 1.0} {
					variants = append(variants, variant{fmt.Sprintf("sleep=%gs ratio=%g φ=%g", sl, cr, phi), sl, cr, phi})
				}
			}
		}
	}
	var specs []spec
	traceList := strings.Split(*traces, ",")
	for _, tf := range traceList {
		tr, p, err := loadInputs(tf, *profile, *classes)
		if err != nil {
			return err
		}
		for _, v := range variants {
			pv := p
			if v.sleep > 0 {
				pv = pv.WithSleep(v.sleep)
			}
			if v.phi >= 0 {
				pv = pv.WithColocation(v.phi)
			}
			for _, n := range scheds {
				for _, sd := range seedList {
					specs = append(specs, spec{trace: tr, profile: pv, profName: *profile, scheduler: n, seed: sd, ratio: v.ratio})
				}
			}
		}
	}
	sums, err := runAll(specs)
	if err != nil {
		return err
	}
	if *out != "" {
		if err := os.MkdirAll(*out, 0o755); err != nil {
			return err
		}
		for i, s := range sums {
			b, err := json.MarshalIndent(s, "", "  ")
			if err != nil {
				return err
			}
			v := i / (len(scheds) * len(seedList)) % len(variants)
			ti := i / (len(scheds) * len(seedList) * len(variants))
			name := fmt.Sprintf("t%d_%s_%s_v%02d_seed%d.json", ti, strings.TrimSuffix(s.Trace, ".csv"), s.Scheduler, v, s.Seed)
			if err := os.WriteFile(filepath.Join(*out, name), append(b, '\n'), 0o644); err != nil {
				return err
			}
		}
	}
	var rows []row
	k := len(seedList)
	for i := 0; i < len(sums); i += k {
		v := i / (len(scheds) * k) % len(variants)
		r := aggregate(variants[v].name, sums[i:i+k])
		r.ti = i / (len(scheds) * k * len(variants))
		rows = append(rows, r)
	}
	writeTable(stdout, rows, *grid, len(seedList))
	return nil
}

func writeTable(w io.Writer, rows []row, grid bool, seeds int) {
	type key struct {
		variant string
		ti      int
	}
	base := map[key]row{}
	for _, r := range rows {
		if r.scheduler == "ettft" {
			base[key{r.variant, r.ti}] = r
		}
	}
	ratio := func(a, b float64) string {
		if b <= 0 {
			return "–"
		}
		return fmt.Sprintf("%.2f", a/b)
	}
	fmt.Fprintf(w, "Medians over %d seeds. TTFT in seconds, TPOT in ms; ratios are to ettft on the same trace%s.\n\n", seeds, map[bool]string{true: " and grid point", false: ""}[grid])
	head := "| trace | scheduler | TTFT p50 | TTFT p95 | high p95 | TPOT p95 | wakes+loads | failed | sched errors | fairness | regret | p50/ettft | p95/ettft |"
	if grid {
		head = "| grid point " + head
	}
	fmt.Fprintln(w, head)
	fmt.Fprintln(w, strings.Repeat("|---", strings.Count(head, "|")-1)+"|")
	for _, r := range rows {
		b, ok := base[key{r.variant, r.ti}]
		p50r, p95r := "–", "–"
		if ok {
			p50r, p95r = ratio(r.p50, b.p50), ratio(r.p95, b.p95)
		}
		prefix := ""
		if grid {
			prefix = "| " + r.variant + " "
		}
		fmt.Fprintf(w, "%s| %s | %s | %.1f | %.1f | %.1f | %.0f | %.0f | %.0f | %.0f | %.2f | %.3f | %s | %s |\n",
			prefix, strings.TrimSuffix(strings.TrimPrefix(r.trace, "workload_"), ".csv"), r.scheduler,
			r.p50, r.p95, r.hi95, r.tpot95, r.swaps, r.failed, r.errs, r.fair, r.regret, p50r, p95r)
	}
}

func cmdGen(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("gen", flag.ContinueOnError)
	var c sim.GenConfig
	fs.IntVar(&c.N, "n", 150, "number of requests")
	minutes := fs.Float64("minutes", 10, "arrival window in minutes")
	fs.Uint64Var(&c.Seed, "seed", 1, "seed")
	fs.StringVar(&c.Arrivals, "arrivals", "random", "arrival process: random or bursty")
	fs.StringVar(&c.Kind, "kind", "explicit-hw3", "explicit-hw3, explicit-coder3 or eccs")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c.DurationMS = int64(*minutes * 60_000)
	return sim.Generate(stdout, c)
}
