package wiring

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/groupwriteback/groupwriteback/internal/config"
	"github.com/groupwriteback/groupwriteback/internal/directory"
	"github.com/groupwriteback/groupwriteback/internal/policy"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
)

func load(t *testing.T, extra string) *config.Config {
	t.Helper()
	dir := t.TempDir()
	text := `
mode: staging
cloud:
  tenant_id: 72f988bf-86f1-41af-91ab-2d7cd011db47
  client_id: 5b0f8a8e-3b55-4c5e-9f5c-1f6f0f2d7e10
  client_secret: cloud-secret-value
directory:
  url: ldaps://127.0.0.1:1
  bind_dn: CN=svc,OU=Service Accounts,DC=contoso,DC=com
  password: bind-secret-value
  base_dn: DC=contoso,DC=com
state:
  path: ` + filepath.Join(dir, "state", "state.db") + `
writeback:
  target_ou: OU=Cloud Groups,DC=contoso,DC=com
` + extra
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// The configuration becomes the engine's typed values in one place.
func TestEngineConfig(t *testing.T) {
	cfg := load(t, `  naming: object_id
  member_limit: 7
  delete_threshold: 9
  member_batch_size: 5000
  on_soft_delete: quarantine
  on_hard_delete: delete
  on_out_of_scope: delete
  quarantine_ou: OU=Quarantine,DC=contoso,DC=com
  source_of_authority: in_place
  scope:
    exclude_names: ["Test *"]
    kinds: [security]
`)
	got := EngineConfig(cfg, directory.Schema{Exchange: true, AnchorAttribute: true})
	p := got.Policy
	if !got.Staging || got.TenantID != cfg.Cloud.TenantID || got.TargetOU != cfg.Writeback.TargetOU || got.DeleteThreshold != 9 ||
		got.QuarantineOU != "OU=Quarantine,DC=contoso,DC=com" || got.BatchSize != 5000 {
		t.Errorf("engine config: %+v", got)
	}
	if got.Fates.SoftDelete != reconcile.Quarantine || got.Fates.HardDelete != reconcile.DeleteIt || got.Fates.OutOfScope != reconcile.DeleteIt ||
		got.Fates.WritebackOff != reconcile.Keep {
		t.Errorf("fates: %+v", got.Fates)
	}
	if p.Naming != policy.NamingObjectID || p.MemberLimit != 7 || !p.InPlace || !p.Exchange || !p.AnchorAttribute ||
		len(p.Scope.ExcludeNames) != 1 || p.Scope.Kinds[0] != "security" || p.TargetOU != cfg.Writeback.TargetOU {
		t.Errorf("policy options: %+v", p)
	}
}

// show opens a session when the DC is down, and says so per group; the
// commands that write do not.
func TestOpenWithoutDirectory(t *testing.T) {
	cfg := load(t, "")
	ctx := context.Background()
	if _, err := Open(ctx, cfg, Options{}); err == nil {
		t.Fatal("a session opened with no DC to reach")
	}
	s, err := Open(ctx, cfg, Options{DirectoryOptional: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Dir != nil || s.DirErr == nil {
		t.Fatalf("Dir %v, DirErr %v", s.Dir, s.DirErr)
	}
	x, err := s.Engine.Explain(ctx, "6a1e0c55-0001-4f0e-9d3b-2c1a0b000001")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(x.ADError, "127.0.0.1:1") || !strings.Contains(x.Decision, "not in the cloud snapshot") {
		t.Fatalf("explanation without AD: %+v", x)
	}
}
