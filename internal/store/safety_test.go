package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestStateFileIsPrivate(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	dir := t.TempDir()
	path := filepath.Join(dir, "state.db")
	s := open(t, path)
	if err := s.SetEnablement(context.Background(), Enablement{Enabled: true}); err != nil {
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

func TestDiedRunsAndBinding(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "state.db"))
	first, _, err := s.StartRun(ctx, "full") // then killed: never finished
	if err != nil {
		t.Fatal(err)
	}
	second, died, err := s.StartRun(ctx, "delta")
	if err != nil || len(died) != 1 || died[0] != first {
		t.Fatalf("died = %v, %v; want [%d]", died, err, first)
	}
	runs, _ := s.Runs(ctx, 5)
	if runs[0].ID != second || runs[0].Outcome != "running" || runs[1].Outcome != OutcomeDied {
		t.Fatalf("runs = %+v", runs)
	}
	if _, ok, err := s.Binding(ctx); ok || err != nil {
		t.Fatalf("a new state file has a binding: %v %v", ok, err)
	}
	b := Binding{TenantID: "t", Domain: "DC=contoso,DC=test", TargetOU: "OU=Cloud,DC=contoso,DC=test"}
	if err := s.SetBinding(ctx, b); err != nil {
		t.Fatal(err)
	}
	if got, ok, err := s.Binding(ctx); !ok || err != nil || got != b {
		t.Fatalf("binding = %+v %v %v", got, ok, err)
	}
}
