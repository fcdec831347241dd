package main

import (
	"errors"
	"io"

	"github.com/logos-llm/logos/scheduler/sim"
)

func cmdCompare(args []string, stdout io.Writer) error      { return errors.New("todo") }
func cmdValidate(args []string, stdout io.Writer) error     { return errors.New("todo") }
func cmdGen(args []string, stdout io.Writer) error          { return errors.New("todo") }
func renderSVG(s sim.Summary, obs []sim.Observation) string { return "" }
