package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/groupwriteback/groupwriteback/internal/policy"
	"github.com/groupwriteback/groupwriteback/internal/secret"
)

// Load reads, completes and validates the configuration file at path.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	if err := c.Complete(filepath.Dir(path)); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// Parse decodes YAML. Unknown keys are errors that name the key and line.
func Parse(b []byte) (*Config, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return nil, err
	}
	if len(root.Content) == 0 {
		return nil, errors.New("the file is empty")
	}
	if errs := unknownKeys(root.Content[0], reflect.TypeFor[Config](), ""); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return nil, namedTypeErrors(err, root.Content[0])
	}
	return &c, nil
}

// namedTypeErrors names the key of each value of the wrong type: yaml.v3
// says only "line 12: cannot unmarshal !!int `30` into time.Duration".
func namedTypeErrors(err error, root *yaml.Node) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	keys := map[int]string{}
	var walk func(n *yaml.Node, prefix string)
	walk = func(n *yaml.Node, prefix string) {
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				keys[v.Line] = prefix + k.Value
				walk(v, prefix+k.Value+".")
			}
		case yaml.SequenceNode:
			for _, c := range n.Content {
				walk(c, strings.TrimSuffix(prefix, ".")+"[].")
			}
		}
	}
	walk(root, "")
	var errs []error
	for _, e := range te.Errors {
		var line int
		rest := e
		if _, err := fmt.Sscanf(e, "line %d:", &line); err == nil {
			_, rest, _ = strings.Cut(e, ": ")
		}
		msg := rest
		if key := keys[line]; key != "" {
			msg = fmt.Sprintf("%s: %s (line %d)", key, rest, line)
		}
		if strings.Contains(rest, "time.Duration") {
			msg += ": write a duration with its unit, as 30s, 30m or 2h"
		}
		errs = append(errs, errors.New(msg))
	}
	return errors.Join(errs...)
}

// unknownKeys walks a mapping node against a struct's yaml tags.
func unknownKeys(n *yaml.Node, t reflect.Type, prefix string) []error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind != yaml.MappingNode || t.Kind() != reflect.Struct {
		return nil
	}
	fields := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name != "" && name != "-" {
			fields[name] = f.Type
		}
	}
	var errs []error
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		ft, ok := fields[k.Value]
		if !ok {
			errs = append(errs, fmt.Errorf("%s%s: unknown key (line %d)", prefix, k.Value, k.Line))
			continue
		}
		errs = append(errs, unknownKeys(v, ft, prefix+k.Value+".")...)
	}
	return errs
}

// Complete fills defaults and resolves secrets. dir is the directory of the
// configuration file, which relative paths in it are taken from.
func (c *Config) Complete(dir string) error {
	c.Writeback.complete()
	if c.State.Path == "" {
		c.State.Path = "groupwriteback.db"
	}
	if c.Mode == "" {
		c.Mode = "normal"
	}
	if c.Schedule.Interval == 0 {
		c.Schedule.Interval = 30 * time.Minute
	}
	if c.Schedule.FullInterval == 0 {
		c.Schedule.FullInterval = 24 * time.Hour
	}
	if c.Schedule.Jitter == nil {
		j := min(c.Schedule.Interval/10, time.Minute)
		c.Schedule.Jitter = &j
	}
	if c.Schedule.CycleTimeout == 0 {
		c.Schedule.CycleTimeout = 4 * time.Hour
	}
	if c.Notifications.On() {
		if len(c.Notifications.Resources) == 0 {
			c.Notifications.Resources = []string{"groups", "users"}
		}
		if c.Notifications.CheckInterval == 0 {
			c.Notifications.CheckInterval = 15 * time.Minute
		}
		if c.Notifications.Debounce == 0 {
			c.Notifications.Debounce = 2 * time.Second
		}
	}
	if c.Server.Listen == "" {
		c.Server.Listen = "127.0.0.1:8080"
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Log.Format == "" {
		c.Log.Format = "text"
	}
	if c.Alerts.Format == "" {
		c.Alerts.Format = "json"
	}
	if c.Alerts.RepeatAfter == 0 {
		c.Alerts.RepeatAfter = 6 * time.Hour
	}
	if c.Alerts.StagingAfter == 0 {
		c.Alerts.StagingAfter = 7 * 24 * time.Hour
	}
	if c.Audit.RetentionDays == nil {
		v := DefaultAuditRetentionDays
		c.Audit.RetentionDays = &v
	}
	if c.State.HistoryDays == nil {
		v := DefaultAuditRetentionDays
		c.State.HistoryDays = &v
	}
	if c.Audit.EventLog == nil {
		v := true
		c.Audit.EventLog = &v
	}
	if c.HA.Lease == 0 {
		c.HA.Lease = 30 * time.Second
	}
	if c.HA.RenewInterval == 0 {
		c.HA.RenewInterval = c.HA.Lease / 3
	}
	if c.Audit.File == "" {
		c.Audit.File = filepath.Join(filepath.Dir(c.State.Path), "audit.jsonl")
	}
	for _, p := range []*string{&c.State.Path, &c.Log.File, &c.Cloud.ClientSecretFile, &c.Cloud.CertificateFile, &c.Cloud.CAFile,
		&c.Directory.PasswordFile, &c.Directory.CAFile, &c.Server.TLSCertFile, &c.Server.TLSKeyFile, &c.Server.ClientCAFile, &c.Server.TokenFile, &c.Audit.File, &c.Alerts.WebhookURLFile, &c.State.URLFile} {
		if *p != "" && *p != "off" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	var err, uerr, kerr error
	c.Alerts.WebhookURL, err = secret.Resolve(c.Alerts.WebhookURL, "alerts.webhook_url", c.Alerts.WebhookURLFile, "alerts.webhook_url_file", EnvAlertsWebhookURL)
	c.State.URL, uerr = secret.Resolve(c.State.URL, "state.url", c.State.URLFile, "state.url_file", EnvStateURL)
	if f := c.Writeback.PlanKeyFile; f != "" {
		if !filepath.IsAbs(f) {
			c.Writeback.PlanKeyFile = filepath.Join(dir, f)
		}
		c.Writeback.PlanKey, kerr = secret.Resolve(secret.Value{}, "", c.Writeback.PlanKeyFile, "writeback.plan_key_file", "")
		if kerr == nil && len(c.Writeback.PlanKey.Reveal()) < 32 {
			kerr = fmt.Errorf("writeback.plan_key_file: %s holds fewer than 32 characters: make one with `openssl rand -hex 32`", c.Writeback.PlanKeyFile)
		}
	}
	return errors.Join(c.Cloud.Complete("cloud."), c.Directory.Complete("directory."), err, uerr, kerr)
}

// complete fills the writeback defaults.
func (w *Writeback) complete() {
	for _, p := range []struct {
		v   *string
		def string
	}{{&w.SAMOnRename, SAMKeep}, {&w.Naming, NamingDisplayName}, {&w.SourceOfAuthority, "report"}, {&w.GroupScope, policy.ScopeUniversal},
		{&w.OnSoftDelete, "keep"}, {&w.OnHardDelete, "delete"}, {&w.OnWritebackDisabled, "keep"},
		{&w.OnOutOfScope, "keep"}, {&w.OnDisable, "delete"}} {
		if *p.v == "" {
			*p.v = p.def
		}
	}
	if w.PlanMaxAge == 0 {
		w.PlanMaxAge = time.Hour
	}
	if w.RestoreDeleted == nil {
		v := true
		w.RestoreDeleted = &v
	}
	if w.MemberBatchSize == 0 {
		w.MemberBatchSize = 1000
	}
	if w.DeleteThreshold == nil {
		v := 500
		w.DeleteThreshold = &v
	}
	if w.DeleteThresholdPercent == nil {
		v := DefaultDeleteThresholdPercent
		w.DeleteThresholdPercent = &v
	}
}
