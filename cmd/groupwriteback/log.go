package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/groupwriteback/groupwriteback/internal/config"
)

// loggerOrDiscard is logger, or a silent one without a configuration.
func (g *globals) loggerOrDiscard(cfg *config.Config) *slog.Logger {
	if cfg == nil {
		return slog.New(slog.DiscardHandler)
	}
	return g.logger(cfg)
}

// logFile opens the log file at path for appending, once per process: it
// stays open for the life of the process, and every later call gets it back.
func (g *globals) logFile(path string) (*os.File, error) {
	g.logMu.Lock()
	defer g.logMu.Unlock()
	if f := g.logFiles[path]; f != nil {
		return f, nil
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o640)
	if err != nil {
		return nil, err
	}
	if g.logFiles == nil {
		g.logFiles = map[string]*os.File{}
	}
	g.logFiles[path] = f
	return f, nil
}

// logger builds the logger the configuration asks for: on stderr (the
// event log for a Windows service), or appended to log.file.
func (g *globals) logger(cfg *config.Config) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Log.Level)) // config.Validate refused any other level: info stays for none
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: inSeconds}
	var w io.Writer = g.stderr
	if cfg.Log.File != "" {
		if f, err := g.logFile(cfg.Log.File); err == nil {
			w = f
		} else {
			fmt.Fprintf(g.stderr, "groupwriteback: log.file: %v; logging to stderr\n", err)
		}
	}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if cfg.Log.Format == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	if cfg.State.Shared() {
		// Instances share a state: every line says which one wrote it.
		return slog.New(h).With("instance", cfg.HA.Name())
	}
	return slog.New(h)
}

// inSeconds writes durations in logs as seconds, under a key that says so
// ("duration_seconds=1.25"), not as nanoseconds (JSON) or Go's "1.25s".
func inSeconds(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() != slog.KindDuration {
		return a
	}
	key := a.Key
	if !strings.HasSuffix(key, "_seconds") {
		key += "_seconds"
	}
	return slog.Float64(key, a.Value.Duration().Seconds())
}
