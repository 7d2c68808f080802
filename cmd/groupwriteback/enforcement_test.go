package main

import (
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/groupwriteback/groupwriteback/internal/directory"
	"github.com/groupwriteback/groupwriteback/internal/testdc"
)

// Microsoft's AD object enforcement, on a DC given the policy object and
// a group marked msDS-ObjectSoa = Cloud (Samba does not enforce it: what
// is tested is that the tool finds it, plans around it and says so).
// Enforced, without the bind account on the allow list: the marked
// group's update is left out of the plan, the cycle writes nothing to it,
// and plan and status say why and what to do; the other group is written.
// Audit: the write goes on.
func TestEnforcementLeavesMarkedGroupsOut(t *testing.T) {
	cfg, ou, tenant := dcSetup(t, testdc.Options{Exchange: true, Anchor: true}, 23)
	if _, errOut, code := runCLI(t, "--config", cfg, "enable"); code != exitOK {
		t.Fatalf("enable: %s", errOut)
	}
	if _, errOut, code := runCLI(t, "--config", cfg, "sync"); code != exitOK {
		t.Fatalf("the first sync: %s", errOut)
	}
	dc := testdc.Shared(t, testdc.Options{Exchange: true, Anchor: true})
	admin, err := dc.Admin()
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	groups := dc.Search(t, ou, ldap.ScopeSingleLevel, "(objectClass=group)", "cn", "adminDescription")
	var vpn, marketing string
	for _, g := range groups {
		switch {
		case strings.HasSuffix(g.GetAttributeValue("adminDescription"), gid(23, 4)):
			vpn = g.DN
		case strings.HasSuffix(g.GetAttributeValue("adminDescription"), gid(23, 1)):
			marketing = g.DN
		}
	}
	if vpn == "" || marketing == "" {
		t.Fatalf("the first sync wrote %d groups", len(groups))
	}
	mark := ldap.NewModifyRequest(vpn, nil)
	mark.Replace(directory.SOAAttribute, []string{"Cloud"})
	if err := admin.Modify(mark); err != nil {
		t.Fatal(err)
	}
	policies := "CN=SOA-Policies,CN=System," + testdc.BaseDN
	policy := directory.SOAPolicyDN(testdc.BaseDN)
	for dn, class := range map[string]string{policies: "container"} {
		req := ldap.NewAddRequest(dn, nil)
		req.Attribute("objectClass", []string{class})
		if err := admin.Add(req); err != nil {
			t.Fatal(err)
		}
	}
	req := ldap.NewAddRequest(policy, nil)
	req.Attribute("objectClass", []string{"serviceConnectionPoint"})
	req.Attribute("msDS-Settings", []string{"Enforced", "S-1-5-21-1004336348-1177238915-682003330-1234"})
	if err := admin.Add(req); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = admin.Del(ldap.NewDelRequest(policy, nil))
		_ = admin.Del(ldap.NewDelRequest(policies, nil))
	})
	for _, id := range []string{gid(23, 4), gid(23, 1)} {
		if err := tenant.UpdateGroup(id, map[string]any{"description": "changed in the cloud"}); err != nil {
			t.Fatal(err)
		}
	}
	description := func(dn string) string {
		return dc.Search(t, dn, ldap.ScopeBaseObject, "(objectClass=*)", "description")[0].GetAttributeValue("description")
	}
	out, _, _ := runCLI(t, "--config", cfg, "plan")
	if !strings.Contains(out, "AD object enforcement refuses this write") || !strings.Contains(out, policy) || !strings.Contains(out, "svc-groupwriteback") {
		t.Fatalf("plan does not say the marked group is blocked:\n%s", out)
	}
	out, _, code := runCLI(t, "--config", cfg, "sync")
	if code != exitPartial || description(vpn) != "" || description(marketing) != "changed in the cloud" {
		t.Fatalf("sync: exit %d; the marked group's description %q, the other's %q\n%s", code, description(vpn), description(marketing), out)
	}
	out, _, _ = runCLI(t, "--config", cfg, "status")
	if !strings.Contains(out, "AD object enforcement refuses this write") {
		t.Fatalf("status:\n%s", out)
	}
	// Audit: the write goes on (and a Windows DC logs it).
	audit := ldap.NewModifyRequest(policy, nil)
	audit.Replace("msDS-Settings", []string{"Audit", "S-1-5-21-1004336348-1177238915-682003330-1234"})
	if err := admin.Modify(audit); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := runCLI(t, "--config", cfg, "sync"); code != exitOK || description(vpn) != "changed in the cloud" {
		t.Fatalf("sync in Audit mode: exit %d, description %q: %s", code, description(vpn), errOut)
	}
}
