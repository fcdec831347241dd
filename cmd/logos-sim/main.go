// Command logos-sim runs Logos schedulers in the discrete-event simulator
// (scheduler/sim) on request traces in the original's CSV format.
//
//	logos-sim run -trace FILE [-profile NAME|FILE] -scheduler NAME [-seed N] [-classes FILE] [-plot FILE.svg]
//	logos-sim compare -trace FILE[,FILE…] -schedulers a,b,… [-seeds 1-5] [-grid] [-out DIR]
//	logos-sim validate [-workloads DIR]
//	logos-sim bound -trace FILE[,FILE…] [-profile NAME|FILE] [-seeds 1-5] [-sleep-s S] [-jitter-sigmas K]
//	logos-sim gen [-n N] [-minutes M] [-seed S] [-arrivals random|bursty] [-kind explicit|eccs] > trace.csv
//
// Schedulers: fcfs, round-robin, least-loaded, ettft, static, no-swap, logos.
package main

import (
	"fmt"
	"io"
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: logos-sim run|compare|validate|bound|gen [flags]")
		return 2
	}
	var err error
	switch args[0] {
	case "run":
		err = cmdRun(args[1:], stdout)
	case "compare":
		err = cmdCompare(args[1:], stdout)
	case "validate":
		err = cmdValidate(args[1:], stdout)
	case "bound":
		err = cmdBound(args[1:], stdout)
	case "gen":
		err = cmdGen(args[1:], stdout)
	default:
		err = fmt.Errorf("unknown command %q (want run, compare, validate, bound or gen)", args[0])
	}
	if err != nil {
		fmt.Fprintln(stderr, "logos-sim:", err)
		return 1
	}
	return 0
}
