// Command graphsim serves an emulated Microsoft Graph tenant over HTTPS, for
// tests, the demo and people trying groupwriteback without a tenant.
//
//	graphsim -listen 127.0.0.1:8443 -tenant examples/tenant.json -cert-dir /tmp/graphsim
//
// It prints its base URL on standard output when it is ready; clients trust
// it through the CA it writes to DIR/ca.pem. The base URL is both the Graph
// URL and the authority URL.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/graphsim"
	"github.com/groupwriteback/groupwriteback/internal/recording"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "graphsim:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("graphsim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		listen   = fs.String("listen", "127.0.0.1:8443", "address to listen on")
		tenant   = fs.String("tenant", "", "tenant file (JSON with Graph's property names); required unless -replay")
		replay   = fs.String("replay", "", "serve the recording in this directory (groupwriteback cloud record) instead of a tenant")
		certDir  = fs.String("cert-dir", "", "directory to write ca.pem to (default: a new temporary directory)")
		logLevel = fs.String("log-level", "info", "debug logs every request")
		f        graphsim.Faults
	)
	fs.IntVar(&f.PageSize, "page-size", 100, "items per page of delta and list answers")
	fs.IntVar(&f.MembersPerItem, "members-per-item", 500, "member changes per delta item; a group with more spans several items and pages")
	fs.IntVar(&f.ThrottleEvery, "throttle-every", 0, "answer every Nth Graph request 429 Too Many Requests")
	fs.IntVar(&f.RetryAfterSeconds, "retry-after", 1, "Retry-After seconds of 429 and 503 answers")
	fs.IntVar(&f.UnavailableEvery, "unavailable-every", 0, "answer every Nth Graph request 503 Service Unavailable")
	fs.IntVar(&f.GatewayTimeoutEvery, "gateway-timeout-every", 0, "answer every Nth Graph request 504 Gateway Timeout")
	fs.IntVar(&f.DropEvery, "drop-every", 0, "close the connection of every Nth Graph request without answering")
	fs.IntVar(&f.ResyncEvery, "resync-every", 0, "answer every Nth delta-link request 410 Gone (full resync)")
	fs.IntVar(&f.ReplayEvents, "replay-events", 0, "replay this many already-delivered changes in each incremental delta round")
	fs.DurationVar(&f.TokenLifetime, "token-lifetime", time.Hour, "lifetime of issued access tokens")
	fs.BoolVar(&f.RemovedWithoutReason, "removed-without-reason", false, `send "@removed": {} for deleted objects, with no reason`)
	fs.IntVar(&f.RefuseLinkEvery, "refuse-link-every", 0, "answer every Nth delta-link request 400 with -expired-link-code")
	fs.StringVar(&f.ExpiredLinkCode, "expired-link-code", "syncStateNotFound", "error code of a delta link refused or past its lifetime")
	fs.BoolVar(&f.EndlessPages, "endless-pages", false, "never end a delta round: the last page again, with a fresh next link")
	fs.BoolVar(&f.InitialRemovals, "initial-removals", false, "put @removed items and removed members into initial delta rounds")
	fs.BoolVar(&f.InterleaveItems, "interleave-items", false, "spread a group's member chunks across the round, between other groups' items")
	fs.IntVar(&f.LagEvents, "lag", 0, "leave the last N changes out of each incremental round (replication lag)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *tenant == "" && *replay == "" {
		return fmt.Errorf("-tenant is required (or -replay)")
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("-log-level: %w", err)
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	opts := graphsim.Options{Addr: *listen, CertDir: *certDir, Faults: f, Logger: logger}
	var err error
	if *replay != "" {
		if opts.Replay, err = recording.Load(*replay); err != nil {
			return err
		}
	} else if opts.Tenant, err = graphsim.LoadTenantFile(*tenant); err != nil {
		return err
	}
	inst, err := graphsim.Start(opts)
	if err != nil {
		return err
	}
	defer inst.Close()
	fmt.Fprintln(stdout, inst.URL)
	if opts.Replay != nil {
		logger.Info("graphsim ready, replaying", "url", inst.URL, "recording", *replay, "tenant", opts.Replay.TenantID,
			"client_id", opts.Replay.ClientID, "client_secret", graphsim.ReplaySecret, "answers", len(opts.Replay.Exchanges), "ca_file", inst.CAFile)
	} else {
		logger.Info("graphsim ready", "url", inst.URL, "tenant", opts.Tenant.TenantID, "ca_file", inst.CAFile,
			"groups", len(opts.Tenant.Groups), "users", len(opts.Tenant.Users))
	}
	<-ctx.Done()
	logger.Info("graphsim stopping")
	return nil
}
