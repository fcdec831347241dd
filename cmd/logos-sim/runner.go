package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/logos-llm/logos/scheduler/baselines"
	"github.com/logos-llm/logos/scheduler/core"
	"github.com/logos-llm/logos/scheduler/logos"
	"github.com/logos-llm/logos/scheduler/sim"
)

// schedulers lists the names -scheduler accepts.
var schedulers = []string{"fcfs", "round-robin", "least-loaded", "ettft", "static", "no-swap", "ollama", "logos"}

// errUnknownScheduler means a -scheduler name is not in schedulers.
var errUnknownScheduler = errors.New("unknown scheduler")

// newPolicy returns a fresh policy and whether the run needs infinite VRAM.
func newPolicy(name string, tr *sim.Trace) (core.Policy, bool, error) {
	switch name {
	case "fcfs":
		return baselines.NewFCFS(), false, nil
	case "round-robin":
		return baselines.NewRoundRobin(), false, nil
	case "least-loaded":
		return baselines.NewLeastLoaded(), false, nil
	case "ettft":
		return baselines.NewETTFT(), false, nil
	case "static":
		return baselines.NewStatic(), false, nil
	case "no-swap":
		return baselines.NewFCFS(), true, nil
	case "ollama":
		return baselines.NewOllama(), false, nil
	case "logos":
		return logos.New(logosConfig), false, nil
	}
	return nil, false, fmt.Errorf("%w %q (want one of %s)", errUnknownScheduler, name, strings.Join(schedulers, ", "))
}

// logosConfig is the logos policy's configuration (its tuning flags).
var logosConfig logos.Config

// spec is one run.
type spec struct {
	trace     *sim.Trace
	profile   *sim.Profile
	profName  string
	scheduler string
	seed      uint64
	ratio     float64
	observe   func(sim.Observation)
}

func execute(s spec) (sim.Summary, error) {
	p, inf, err := newPolicy(s.scheduler, s.trace)
	if err != nil {
		return sim.Summary{}, err
	}
	res, err := sim.Run(sim.Config{Profile: s.profile, Trace: s.trace, Policy: p, Seed: s.seed,
		CompletionRatio: s.ratio, InfiniteVRAM: inf, Observe: s.observe})
	if err != nil {
		return sim.Summary{}, fmt.Errorf("%s on %s seed %d: %w", s.scheduler, s.trace.Name, s.seed, err)
	}
	sum := sim.Summarize(res)
	sum.Trace, sum.Profile, sum.Scheduler, sum.Seed = s.trace.Name, s.profName, s.scheduler, s.seed
	sum.GitCommit = gitCommit()
	sum.TraceSHA256, sum.ProfileSHA256 = s.trace.SHA256, s.profile.SHA256()
	return sum, nil
}

// gitCommit reads vcs.revision from the build info; when the binary was
// built without VCS stamping (go run, tests, GOFLAGS=-buildvcs=false) it
// asks git for the commit of the working directory, and says "unknown" when
// that fails. A modified tree is marked "-dirty". The result is computed once.
var gitCommit = sync.OnceValue(func() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		rev, dirty := "", false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if rev != "" {
			if dirty {
				rev += "-dirty"
			}
			return rev
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "git", "rev-parse", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	rev := strings.TrimSpace(string(out))
	if st, err := exec.CommandContext(ctx, "git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(bytes.TrimSpace(st)) > 0 {
		rev += "-dirty"
	}
	return rev
})

func loadInputs(trace, profile, classes string) (*sim.Trace, *sim.Profile, error) {
	cl := sim.DefaultClasses()
	if classes != "" {
		var err error
		if cl, err = sim.LoadClasses(classes); err != nil {
			return nil, nil, err
		}
	}
	tr, err := sim.ReadTraceFile(trace, cl)
	if err != nil {
		return nil, nil, err
	}
	p, err := sim.LoadProfile(profile)
	if err != nil {
		return nil, nil, err
	}
	return tr, p, nil
}

func cmdRun(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	trace := fs.String("trace", "", "trace CSV file")
	profile := fs.String("profile", "logos-2x16", "physics profile: built-in name or JSON file")
	name := fs.String("scheduler", "", "scheduler: "+strings.Join(schedulers, ", "))
	seed := fs.Uint64("seed", 1, "seed")
	classes := fs.String("classes", "", "classes JSON for policy-routed rows (default: built-in medium mapping)")
	ratio := fs.Float64("completion-ratio", 0.65, "mean output/max_tokens")
	plot := fs.String("plot", "", "write an SVG of TTFT over time per model and the resident set")
	sleepS := fs.Float64("sleep-s", 0, "override every model's sleep time (seconds); 0 keeps the profile's")
	phi := fs.Float64("colocation", -1, "override the colocation slowdown φ; negative keeps the profile's")
	tune := fs.String("logos-tune", "", "logos tuning: maxwait high,normal,low seconds and tenure, e.g. 2,6,12,4")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := parseTune(*tune); err != nil {
		return err
	}
	if *trace == "" || *name == "" {
		return errors.New("run needs -trace and -scheduler")
	}
	tr, p, err := loadInputs(*trace, *profile, *classes)
	if err != nil {
		return err
	}
	if *sleepS > 0 {
		p = p.WithSleep(*sleepS)
	}
	if *phi >= 0 {
		p = p.WithColocation(*phi)
	}
	var obs []sim.Observation
	s := spec{trace: tr, profile: p, profName: *profile, scheduler: *name, seed: *seed, ratio: *ratio}
	if *plot != "" {
		s.observe = func(o sim.Observation) { obs = append(obs, o) }
	}
	sum, err := execute(s)
	if err != nil {
		return err
	}
	if *plot != "" {
		if err := os.WriteFile(*plot, []byte(renderSVG(sum, obs)), 0o644); err != nil {
			return err
		}
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(sum)
}

func dur(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// parseTune sets logosConfig from -logos-tune "high,normal,low,tenure"
// seconds; empty keeps the defaults.
func parseTune(tune string) error {
	if tune == "" {
		return nil
	}
	var h, n, l, t, k, se float64
	if _, err := fmt.Sscanf(tune, "%g,%g,%g,%g,%g,%g", &h, &n, &l, &t, &k, &se); err != nil {
		return fmt.Errorf("-logos-tune %q: %w", tune, err)
	}
	logosConfig.Kappa, logosConfig.ServeEstimate = k, dur(se)
	logosConfig.MaxWaitHigh, logosConfig.MaxWaitNormal = dur(h), dur(n)
	logosConfig.MaxWaitLow, logosConfig.MinTenure = dur(l), dur(t)
	return nil
}
