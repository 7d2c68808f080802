package doctor

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strings"

	"github.com/groupwriteback/groupwriteback/internal/config"
)

// checkPaths checks, as the account doctor runs as (run it as the
// service's), that every file the service writes can be written: the
// state file (and, beside it, its locks and a staging service's plan),
// the audit trail and the log file.
func checkPaths(r *Report, cfg *config.Config) {
	paths := []struct{ key, path string }{{"state.path", cfg.State.Path}}
	if !cfg.Audit.Off() {
		paths = append(paths, struct{ key, path string }{"audit.file", cfg.Audit.File})
	}
	if cfg.Log.File != "" {
		paths = append(paths, struct{ key, path string }{"log.file", cfg.Log.File})
	}
	var ok []string
	for _, p := range paths {
		if err := writable(p.path); err != nil {
			r.add("paths: "+p.key, Fail, fmt.Sprintf("%s: %v, as %s", p.path, err, account()), pathFix(p.key, p.path))
			continue
		}
		ok = append(ok, p.key+" "+p.path)
	}
	if len(ok) > 0 {
		r.add("paths: writable", Pass, "as "+account()+": "+strings.Join(ok, ", ")+" (the state's locks and a staged plan go beside state.path)", "")
	}
}

// writable says why path cannot be written by this process: the file
// opened for appending when it exists, else a file created (and removed)
// in its directory, which must exist or be makeable.
func writable(path string) error {
	if f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0); err == nil {
		return f.Close()
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	dir := filepath.Dir(path)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		// The service makes a missing directory itself, if its parent
		// lets it.
		parent := filepath.Dir(dir)
		if perr := probeDir(parent); perr != nil {
			return fmt.Errorf("its directory %s does not exist, and cannot be made: %w", dir, perr)
		}
		return nil
	}
	if err := probeDir(dir); err != nil {
		return fmt.Errorf("its directory %s: %w", dir, err)
	}
	return nil
}

// probeDir creates and removes a file in dir.
func probeDir(dir string) error {
	f, err := os.CreateTemp(dir, ".groupwriteback-doctor-*")
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return pe.Err
		}
		return err
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

// pathFix says how to make path writable for this account.
func pathFix(key, path string) string {
	dir := filepath.Dir(path)
	if strings.HasPrefix(dir, "/etc/") || dir == "/etc" {
		return fmt.Sprintf("%s is under /etc, which the service cannot write (the unit's ProtectSystem=strict): set %s under /var/lib/groupwriteback (audit.file defaults to beside state.path)", path, key)
	}
	if u, err := user.Current(); err == nil {
		return fmt.Sprintf("make the directory and give it to the service's account: install -d -m 0700 -o %s -g %s %s (the packages do it for /var/lib/groupwriteback)", u.Username, groupName(u), dir)
	}
	return "make " + dir + " writable by the service's account"
}

func groupName(u *user.User) string {
	if g, err := user.LookupGroupId(u.Gid); err == nil {
		return g.Name
	}
	return u.Gid
}

// account is the account doctor runs as.
func account() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "this account"
}
