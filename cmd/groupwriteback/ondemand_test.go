package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/groupwriteback/groupwriteback/internal/engine"
	"github.com/groupwriteback/groupwriteback/internal/server"
	"github.com/groupwriteback/groupwriteback/internal/testdc"
)

// Provision on demand against Samba: sync --group writes that group only
// and traces each member (found by objectSid, by DN, or not at all);
// POST /sync?group= does the same on the service.
func TestSyncOneGroupOnDemand(t *testing.T) {
	cfg, ou, tenant := dcSetup(t, testdc.Options{Exchange: true, Anchor: true}, 8)
	ghost, err := tenant.CreateUser(map[string]any{"displayName": "Ghost", "userPrincipalName": "ghost@x", "onPremisesSyncEnabled": true,
		"onPremisesSecurityIdentifier": "S-1-5-21-1-2-3-4242"})
	if err != nil {
		t.Fatal(err)
	}
	if err := tenant.AddMember(gid(8, 4), ghost); err != nil {
		t.Fatal(err)
	}
	if _, _, code := runCLI(t, "--config", cfg, "enable"); code != exitOK {
		t.Fatal("enable failed")
	}
	out, errOut, code := runCLI(t, "--config", cfg, "sync", "--group", "VPN users")
	if code != exitOK {
		t.Fatalf("sync --group: exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		"trace of group " + gid(8, 4) + ` "VPN users"`,
		"scope: written back as universalSecurityGroup",
		`user 3f2b1c4d-0001-4a5b-8c6d-7e8f90a1b2c3 "A"`, "by objectSid S-1-5-21-", "by distinguishedName CN=",
		`"Ghost"`, "by objectSid S-1-5-21-1-2-3-4242: no object", "not written: not found in AD by any of its on-premises identifiers",
		"create CN=VPN users_2c1a0b080004," + ou, `displayName: (none) -> "VPN users"`,
	} {
		if !strings.Contains(out, want) {
			t.Fatalf("sync --group lacks %q:\n%s", want, out)
		}
	}
	if n := len(groupsIn(t, testdc.Shared(t, testdc.Options{Exchange: true, Anchor: true}), ou)); n != 1 {
		t.Fatalf("%d groups in AD after a one-group sync, want 1", n)
	}
	if _, errOut, code := runCLI(t, "--config", cfg, "plan", "--group", "nothing like it"); code != exitFatal || !strings.Contains(errOut, `no group with the id, display name or DN "nothing like it"`) {
		t.Fatalf("plan --group of no group: exit %d: %s", code, errOut)
	}
	if _, errOut, code := runCLI(t, "--config", cfg, "sync", "--group", "x", "--full"); code != exitFatal || !strings.Contains(errOut, "--group and --full") {
		t.Fatalf("--group with --full: exit %d: %s", code, errOut)
	}

	// The service: its first cycle writes the rest; then one group on demand.
	url, _, _ := startService(t, cfg)
	waitFor(t, "readiness", func() bool { code, _ := httpGet(t, url+"/readyz"); return code == 200 })
	if err := tenant.UpdateGroup(gid(8, 4), map[string]any{"description": "on demand"}); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, url+"/sync?group="+gid(8, 4), nil)
	req.Header.Set(server.SyncHeader, "sync")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		OK    bool   `json:"ok"`
		Mode  string `json:"mode"`
		Trace struct {
			CloudID    string `json:"cloudId"`
			Operations []struct {
				Action  string `json:"action"`
				Changes []struct {
					Name     string
					Old, New []string
				} `json:"changes"`
			} `json:"operations"`
		} `json:"trace"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 200 {
		t.Fatalf("POST /sync?group=: %d %v", resp.StatusCode, err)
	}
	ops := body.Trace.Operations
	if !body.OK || body.Mode != "group" || body.Trace.CloudID != gid(8, 4) || len(ops) != 1 || ops[0].Action != "update" ||
		ops[0].Changes[0].Name != "description" || ops[0].Changes[0].New[0] != "on demand" {
		t.Fatalf("POST /sync?group= answered %+v", body)
	}
	// The audit trail has both writes of the group, the service's too,
	// and that the on-demand cycle brought the group in step.
	out, errOut, code = runCLI(t, "--config", cfg, "audit", "--group", "VPN users", "-o", "json")
	var trail auditJSON
	if err := json.Unmarshal([]byte(out), &trail); err != nil || code != exitOK {
		t.Fatalf("audit -o json: exit %d, %v\n%s%s", code, err, out, errOut)
	}
	e := trail.Entries
	if len(e) != 4 || e[0].Action != "create" || len(e[0].MembersAdded) != 2 || e[1].Outcome != "in-step" || fmt.Sprint(e[1].InStep.Changes) != "[created with 2 members]" ||
		e[2].Action != "update" || e[2].Changes[0].New[0] != "on demand" || e[2].RunID <= e[0].RunID ||
		e[3].Outcome != "in-step" || e[3].RunID != e[2].RunID || e[3].InStep == nil || e[3].InStep.By != "cycle" || fmt.Sprint(e[3].InStep.Changes) != "[description]" ||
		e[3].InStep.Written.Before(e[3].InStep.Noticed) {
		t.Fatalf("audit: %+v", trail.Entries)
	}
}

// The service while writeback is disabled: a cycle writes nothing, and
// POST /sync says so (409, disabled) instead of "ok"; /readyz says so too.
func TestServiceSyncWhileDisabled(t *testing.T) {
	cfg, _, _ := dcSetup(t, testdc.Options{Exchange: true, Anchor: true}, 18)
	url, _, _ := startService(t, cfg)
	waitFor(t, "the server", func() bool { code, _ := httpGet(t, url+"/healthz"); return code == 200 })
	req, _ := http.NewRequest(http.MethodPost, url+"/sync", nil)
	req.Header.Set(server.SyncHeader, "sync")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		OK       bool   `json:"ok"`
		Disabled bool   `json:"disabled"`
		Error    string `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusConflict || body.OK || !body.Disabled ||
		!strings.Contains(body.Error, "groupwriteback enable") {
		t.Fatalf("POST /sync while disabled: %d %+v %v", resp.StatusCode, body, err)
	}
	if code, text := httpGet(t, url+"/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(text, "writeback is disabled") {
		t.Fatalf("/readyz while disabled: %d %s", code, text)
	}
}

// A staging service (or a standby) checks and applies no saved plan: the
// console is told to send it to the active instance, before any session
// is opened.
func TestSavedPlanRefusedOffTheActiveInstance(t *testing.T) {
	c := &cycles{}
	c.staging.Store(true)
	if err := c.CheckSaved(context.Background(), &engine.Plan{}); !errors.Is(err, ErrNotActive) {
		t.Errorf("CheckSaved on a staging service: %v", err)
	}
}
