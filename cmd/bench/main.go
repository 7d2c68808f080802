//go:build linux

// Command bench measures groupwriteback on a generated tenant against a
// baseline measured in the same run: the first writeback against a raw
// ldapmodify import of the same groups (dumped from the DC the tool wrote
// to, imported into an identical copy of it), then the no-change delta
// cycle and one member change. scripts/bench builds and runs it; it needs
// root (Samba). docs/performance.md has the figures and how to read them.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"
)

func main() {
	bin := flag.String("groupwriteback", "groupwriteback", "the groupwriteback binary to measure")
	name := flag.String("scenario", "quick", "the scenario: "+strings.Join(scenarioNames(), ", "))
	profile := flag.String("profile", "", "write each measured sync's CPU and peak-heap profiles into first/, no-change/ and one-member/ under this directory")
	memLimit := flag.String("gomemlimit", "", "run the tool with this GOMEMLIMIT (e.g. 200MiB), to measure the operator's lever on memory")
	memberBatch := flag.Int("member-batch", 0, "run the tool with this writeback.member_batch_size (0: its default)")
	dcCPU := flag.Float64("dc-cpu", 0, "limit each DC to this share of one CPU (e.g. 0.25: a DC about four times slower; 0: no limit)")
	firstOnly := flag.Bool("first-only", false, "stop after the first writeback: its time and memory, with one DC and no raw import to compare its time with (the memory figures of a large tenant without the hour of its raw import)")
	flag.Parse()
	if *name == "latency" {
		rs, err := latency(context.Background(), *bin, latencyModes, 100, time.Minute, os.Stderr)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		printLatency(os.Stdout, rs)
		return
	}
	sc, ok := scenarios[*name]
	if !ok {
		fmt.Fprintf(os.Stderr, "bench: no scenario %q (%s)\n", *name, strings.Join(scenarioNames(), ", "))
		os.Exit(2)
	}
	res, err := run(context.Background(), *bin, sc, options{profile: *profile, memLimit: *memLimit, memberBatch: *memberBatch, dcCPU: *dcCPU, firstOnly: *firstOnly}, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	res.print(os.Stdout)
}

func scenarioNames() []string {
	var out []string
	for n := range scenarios {
		out = append(out, n)
	}
	out = append(out, "latency")
	slices.Sort(out)
	return out
}
