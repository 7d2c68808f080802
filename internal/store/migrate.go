package store

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/groupwriteback/groupwriteback/internal/state"
)

// Migrated is a state moved by Migrate.
type Migrated struct {
	// Export is what was moved.
	Export *state.Export
	// Checked says what the check compared.
	Checked string
}

// MismatchError is a copy that does not read back as the original.
type MismatchError struct {
	Parts []string
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("store: the copy differs from the original in %s: do not use it (drop it, and report this)", strings.Join(e.Parts, ", "))
}

// Migrate copies the whole state of src into dst, which must be empty (a
// SQLite file, a PostgreSQL database: either way), in one transaction of
// dst; then it reads dst back and compares it with src, part by part.
func Migrate(ctx context.Context, src, dst *Store) (*Migrated, error) {
	e, err := src.Export(ctx)
	if err != nil {
		return nil, err
	}
	if err := dst.Import(ctx, e); err != nil {
		return nil, err
	}
	secrets, err := src.secrets(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: read the secrets: %w", err)
	}
	if err := dst.setSecrets(ctx, secrets); err != nil {
		return nil, fmt.Errorf("store: copy the secrets: %w", err)
	}
	back, err := dst.Export(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: read the copy back: %w", err)
	}
	var bad []string
	for _, p := range []struct {
		name string
		a, b any
	}{
		{"settings", e.Meta, back.Meta},
		{"delta links", e.Links, back.Links},
		{"groups", canonical(e.Groups), canonical(back.Groups)},
		{"users", canonical(e.Users), canonical(back.Users)},
		{"statuses", e.Statuses, back.Statuses},
		{"runs", e.Runs, back.Runs},
		{"operations", e.Operations, back.Operations},
	} {
		x, err1 := json.Marshal(p.a)
		y, err2 := json.Marshal(p.b)
		if err1 != nil || err2 != nil || !bytes.Equal(x, y) {
			bad = append(bad, p.name)
		}
	}
	if len(bad) > 0 {
		return nil, &MismatchError{Parts: bad}
	}
	return &Migrated{Export: e, Checked: fmt.Sprintf("settings, delta links, %d groups, %d users, %d statuses, %d runs and %d operations read back the same",
		len(e.Groups), len(e.Users), len(e.Statuses), len(e.Runs), len(e.Operations))}, nil
}

// canonical lists objects by id, each compacted: the same state whatever
// the engine's order or spacing.
func canonical(m map[string]json.RawMessage) []string {
	out := make([]string, 0, len(m))
	for id, raw := range m {
		var b bytes.Buffer
		if err := json.Compact(&b, raw); err != nil {
			b.Reset()
			b.Write(raw)
		}
		out = append(out, id+"\x00"+b.String())
	}
	sort.Strings(out)
	return out
}
