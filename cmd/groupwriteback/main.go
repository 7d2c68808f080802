// Command groupwriteback writes cloud groups from Microsoft Entra ID back
// into on-premises Active Directory and keeps them in step.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/groupwriteback/groupwriteback/internal/advice"
	"github.com/groupwriteback/groupwriteback/internal/config"
	"github.com/groupwriteback/groupwriteback/internal/engine"
)

// Exit codes.
const (
	exitOK    = 0
	exitFatal = 1
	// exitPartial is a run that finished with some groups failed.
	exitPartial = 2
)

func main() {
	if isWindowsService() {
		os.Exit(runAsService(os.Args[1:]))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes one command line and returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRoot(stdin, stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(engine.WithActor(ctx, actor()))
	var ee exitError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ee):
		return ee.code
	default:
		if a, ok := advice.Explained(err); ok {
			fmt.Fprintln(stderr, "groupwriteback:", a)
		} else {
			fmt.Fprintln(stderr, "groupwriteback:", err)
		}
		return exitFatal
	}
}

// exitError ends a command with a chosen code after it printed its report.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

// globals are the flags every command has.
type globals struct {
	configPath string
	logLevel   string
	stdin      io.Reader
	stdout     io.Writer
	stderr     io.Writer

	// logFiles are the log files opened, by path: each once per process,
	// however many cycles the service runs.
	logMu    sync.Mutex
	logFiles map[string]*os.File
}

func defaultConfigPath() string {
	if p := os.Getenv("GROUPWRITEBACK_CONFIG"); p != "" {
		return p
	}
	return "/etc/groupwriteback/config.yaml"
}

func newRoot(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	g := &globals{stdin: stdin, stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:   "groupwriteback",
		Short: "Write cloud groups from Microsoft Entra ID back into Active Directory",
		Long: `groupwriteback writes Microsoft 365 groups and cloud security groups from
Microsoft Entra ID (read through Microsoft Graph) back into on-premises Active
Directory over LDAP, and keeps them in step.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.PersistentFlags().StringVarP(&g.configPath, "config", "c", defaultConfigPath(), "configuration file (env GROUPWRITEBACK_CONFIG)")
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "", "override log.level: debug, info, warn or error")
	var profileDir string
	root.PersistentFlags().StringVar(&profileDir, "profile", "", "write a CPU profile and a heap profile at the heap's peak into this directory (go tool pprof)")
	_ = root.PersistentFlags().MarkHidden("profile")
	var peakFile string
	root.PersistentFlags().StringVar(&peakFile, "peak-rss", "", "write the process's peak RSS, in bytes, into this file when the command ends (Linux)")
	_ = root.PersistentFlags().MarkHidden("peak-rss")
	root.PersistentPreRunE = func(*cobra.Command, []string) error {
		if peakFile != "" {
			cobra.OnFinalize(func() { writePeakRSS(peakFile) })
		}
		if profileDir == "" {
			return nil
		}
		stop, err := startProfile(profileDir)
		if err != nil {
			return fmt.Errorf("--profile: %w", err)
		}
		cobra.OnFinalize(stop)
		return nil
	}
	root.AddCommand(newVersionCmd(g), newConfigCmd(g), newCloudCmd(g), newPlanCmd(g), newApplyCmd(g), newSyncCmd(g), newReleaseCmd(g),
		newDoctorCmd(g), newEnableCmd(g), newDisableCmd(g), newRunCmd(g), newStatusCmd(g), newShowCmd(g), newServiceCmd(g), newAuditCmd(g), newStateCmd(g))
	refuseUnknown(root)
	return root
}

// refuseUnknown makes every command that only groups others (cloud,
// service, …) refuse a word that is none of them, naming the nearest, and
// exit 1, as the root does; without words it prints its help.
func refuseUnknown(cmd *cobra.Command) {
	for _, c := range cmd.Commands() {
		refuseUnknown(c)
	}
	if !cmd.HasParent() || !cmd.HasSubCommands() || cmd.Run != nil || cmd.RunE != nil {
		return
	}
	cmd.RunE = func(c *cobra.Command, args []string) error {
		if len(args) == 0 {
			return c.Help()
		}
		msg := fmt.Sprintf("unknown command %q for %q", args[0], c.CommandPath())
		c.SuggestionsMinimumDistance = 2
		if s := c.SuggestionsFor(args[0]); len(s) > 0 {
			msg += "; did you mean " + strings.Join(s, " or ") + "?"
		}
		return errors.New(msg + " (" + c.CommandPath() + " --help lists them)")
	}
}

// load reads the configuration named by --config.
func (g *globals) load() (*config.Config, error) {
	cfg, err := config.Load(g.configPath)
	if err != nil {
		return nil, err
	}
	if g.logLevel != "" {
		cfg.Log.Level = g.logLevel
		if err := cfg.Validate(); err != nil {
			return nil, fmt.Errorf("--log-level: %w", err)
		}
	}
	return cfg, nil
}
