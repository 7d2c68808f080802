package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/groupwriteback/groupwriteback/internal/state"
)

func TestStateFileIsPrivate(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	dir := t.TempDir()
	path := filepath.Join(dir, "state.db")
	s := open(t, path)
	if err := s.SetEnablement(context.Background(), state.Enablement{Enabled: true}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s is %v, want 0600", filepath.Base(p), fi.Mode().Perm())
		}
	}
	// A file made loose by hand is tightened when opened.
	s.Close()
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	open(t, path)
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("reopened state file is %v", fi.Mode().Perm())
	}
}

func TestCorruptStateFile(t *testing.T) {
	for name, content := range map[string][]byte{
		"not a database": []byte("this is a YAML file, not a state file\n" + strings.Repeat("x", 4096)),
		"damaged header": append([]byte("SQLite format 3\x00"), make([]byte, 4096)...),
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.db")
			if err := os.WriteFile(path, content, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Open(context.Background(), path)
			var cerr *CorruptError
			if !errors.Is(err, ErrCorrupt) || !errors.As(err, &cerr) || cerr.Path != path {
				t.Fatalf("err = %v, want a CorruptError", err)
			}
			for _, want := range []string{path, "move it aside", "groupwriteback enable", "creating no duplicates"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("message %q lacks %q", err, want)
				}
			}
		})
	}
}
