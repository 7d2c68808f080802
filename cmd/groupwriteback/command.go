package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/groupwriteback/groupwriteback/internal/config"
)

// Every command is an options struct its flags fill, run in three steps,
// as `oc adm groups sync` runs its options: complete reads what the flags
// and arguments name (the configuration, loaded once here and nowhere
// else in the command), validate refuses what does not go together before
// anything is opened, and run does the work. One file per command holds
// its options, its steps, and the JSON document it prints, beside the
// printer of its text.
type command interface {
	complete(cmd *cobra.Command, args []string) error
	validate() error
	run(ctx context.Context) error
}

// runs is the RunE of a command.
func runs(o command) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if err := o.complete(cmd, args); err != nil {
			return err
		}
		if err := o.validate(); err != nil {
			return err
		}
		return o.run(cmd.Context())
	}
}

// configured is the part of a command's options that holds the
// configuration: complete loads it once.
type configured struct {
	*globals
	cfg *config.Config
}

// loadConfig loads the configuration named by --config, once.
func (c *configured) loadConfig() error {
	if c.cfg != nil {
		return nil
	}
	cfg, err := c.load()
	if err != nil {
		return err
	}
	c.cfg = cfg
	return nil
}

// output is the -o flag of a command that prints text or JSON (or CSV).
type output struct {
	format  string
	allowed []string
}

func (o *output) flag(cmd *cobra.Command, formats ...string) {
	if len(formats) == 0 {
		formats = []string{"text", "json"}
	}
	cmd.Flags().StringVarP(&o.format, "output", "o", "text", "output format: "+orList(formats))
	o.allowed = formats
}

// validate refuses a format the command does not print.
func (o *output) validate() error {
	for _, f := range o.allowed {
		if o.format == f {
			return nil
		}
	}
	return fmt.Errorf("--output: %q is not %s", o.format, orList(o.allowed))
}

func (o *output) json() bool { return o.format == "json" }

// orList is "a, b or c".
func orList(s []string) string {
	switch len(s) {
	case 0:
		return ""
	case 1:
		return s[0]
	}
	out := s[0]
	for _, v := range s[1 : len(s)-1] {
		out += ", " + v
	}
	return out + " or " + s[len(s)-1]
}
