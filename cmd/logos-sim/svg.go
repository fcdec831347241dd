package main

import (
	"fmt"
	"html"
	"math"
	"slices"
	"strings"

	"github.com/logos-llm/logos/scheduler/sim"
)

var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"}

// renderSVG draws TTFT over arrival time per model (top) and the awake set
// over time (bottom) as a standalone SVG.
func renderSVG(sum sim.Summary, obs []sim.Observation) string {
	const W, H, left, top, plotH, bandH = 960, 560, 70, 40, 320, 22
	var models []string
	tmax, ymax := 1.0, 1.0
	for _, o := range obs {
		if o.Resident == nil {
			if !slices.Contains(models, o.Model) {
				models = append(models, o.Model)
			}
			ymax = max(ymax, o.TTFT.Seconds())
		}
		tmax = max(tmax, o.T.Seconds())
	}
	for _, o := range obs {
		for _, m := range o.Resident {
			if !slices.Contains(models, m) {
				models = append(models, m)
			}
		}
	}
	slices.Sort(models)
	color := func(m string) string {
		if m == "" {
			return "#000000"
		}
		return palette[slices.Index(models, m)%len(palette)]
	}
	ymax = math.Ceil(ymax/10) * 10
	x := func(t float64) float64 { return left + t/tmax*(W-left-20) }
	y := func(v float64) float64 { return top + plotH - v/ymax*plotH }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", W, H)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", W, H)
	fmt.Fprintf(&b, `<text x="%d" y="20" font-size="14">%s — %s, seed %d: TTFT p50 %.1f s, p95 %.1f s</text>`+"\n",
		left, html.EscapeString(sum.Trace), html.EscapeString(sum.Scheduler), sum.Seed, sum.TTFT.P50, sum.TTFT.P95)
	// axes and grid
	for v := 0.0; v <= ymax; v += ymax / 5 {
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/><text x="%d" y="%.1f" text-anchor="end">%.0f s</text>`+"\n", left, W-20, y(v), y(v), left-5, y(v)+4, v)
	}
	for t := 0.0; t <= tmax; t += 60 {
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%.0f</text>`+"\n", x(t), top+plotH+15, t)
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d">arrival time (s); points: TTFT per request (x = failed)</text>`+"\n", left, top+plotH+30)
	for _, o := range obs {
		if o.Resident != nil {
			continue
		}
		if o.Failed {
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" fill="black" text-anchor="middle">x</text>`+"\n", x(o.T.Seconds()), y(o.TTFT.Seconds())+4)
			continue
		}
		fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="2.5" fill="%s"/>`+"\n", x(o.T.Seconds()), y(o.TTFT.Seconds()), color(o.Model))
	}
	// resident bands
	base := top + plotH + 50
	for i, m := range models {
		yy := base + i*bandH
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end" fill="%s">%s</text>`+"\n", left-5, yy+15, color(m), html.EscapeString(short(m)))
		var since float64
		on := false
		for _, o := range obs {
			if o.Resident == nil {
				continue
			}
			now := slices.Contains(o.Resident, m)
			switch {
			case now && !on:
				since, on = o.T.Seconds(), true
			case !now && on:
				fmt.Fprintf(&b, `<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s" opacity="0.7"/>`+"\n", x(since), yy+2, x(o.T.Seconds())-x(since), bandH-4, color(m))
				on = false
			}
		}
		if on {
			fmt.Fprintf(&b, `<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s" opacity="0.7"/>`+"\n", x(since), yy+2, x(tmax)-x(since), bandH-4, color(m))
		}
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d">bands: model awake</text>`+"\n", left, base+len(models)*bandH+15)
	b.WriteString("</svg>\n")
	return b.String()
}

func short(m string) string {
	if i := strings.LastIndexByte(m, '/'); i >= 0 {
		m = m[i+1:]
	}
	if len(m) > 22 {
		m = m[:22]
	}
	return m
}
