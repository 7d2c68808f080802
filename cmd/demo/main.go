//go:build linux

// Command demo runs groupwriteback end to end on one machine: a throwaway
// Samba AD DC on loopback, the Graph emulator serving the sample tenant
// (examples/tenant.json), enable (prerequisites and plan), a sync (with a
// cloud-only member matched to his AD account by employeeId), the groups as AD sees them, then a
// change made with Graph's own calls and the sync that carries it over, and
// last one group provisioned on demand with its trace.
// scripts/demo builds and runs it; it needs root (for Samba).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/groupwriteback/groupwriteback/internal/directory"
	"github.com/groupwriteback/groupwriteback/internal/graphsim"
	"github.com/groupwriteback/groupwriteback/internal/testdc"
)

func main() {
	bin := flag.String("groupwriteback", "groupwriteback", "the groupwriteback binary to run")
	tenantFile := flag.String("tenant", "examples/tenant.json", "the sample tenant")
	flag.Parse()
	if err := run(*bin, *tenantFile); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func step(format string, args ...any) { fmt.Printf("\n== "+format+"\n", args...) }

func run(bin, tenantPath string) error {
	ctx := context.Background()
	work, err := os.MkdirTemp("", "groupwriteback-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	step("starting a Samba AD DC with the Exchange schema (the first run provisions a template: about a minute)")
	t0 := time.Now()
	dc, err := testdc.Start(ctx, testdc.Options{Exchange: true, Anchor: true})
	if err != nil {
		return err
	}
	defer dc.Close()
	fmt.Printf("domain %s at %s, ready in %s\n", testdc.Realm, dc.URL, time.Since(t0).Round(time.Second))

	// The tenant's synced users and its AD-synced group exist in AD first:
	// create them and give the cloud objects their real SIDs, as Connect
	// would have.
	tf, err := graphsim.LoadTenantFile(tenantPath)
	if err != nil {
		return err
	}
	conn, err := dc.Admin()
	if err != nil {
		return err
	}
	defer conn.Close()
	targetOU := "OU=Cloud Groups," + testdc.DelegatedOU // the bind account has the rights docs/permissions.md delegates there
	if err := add(conn, targetOU, map[string][]string{"objectClass": {"organizationalUnit"}}); err != nil {
		return err
	}
	for _, u := range tf.Users {
		if u["onPremisesSyncEnabled"] != true {
			continue
		}
		name, _ := u["displayName"].(string)
		sam, _ := u["onPremisesSamAccountName"].(string)
		dn := "CN=" + ldap.EscapeDN(name) + ",CN=Users," + testdc.BaseDN
		if err := add(conn, dn, map[string][]string{"objectClass": {"top", "person", "organizationalPerson", "user"},
			"sAMAccountName": {sam}, "userAccountControl": {"514"}}); err != nil {
			return err
		}
		u["onPremisesDistinguishedName"] = dn
		if u["onPremisesSecurityIdentifier"], err = sidOf(conn, dn); err != nil {
			return err
		}
	}
	// Diego is cloud-only: Connect never linked him, but HR provisioning
	// made him an AD account with his employee number, in OU=Staff. The
	// demo's configuration matches such members by employeeId
	// (writeback.match_unsynced), so Marketing gets him.
	staffOU := "OU=Staff," + testdc.DelegatedOU
	if err := add(conn, staffOU, map[string][]string{"objectClass": {"organizationalUnit"}}); err != nil {
		return err
	}
	if err := add(conn, "CN=Diego Siciliani,"+staffOU, map[string][]string{"objectClass": {"top", "person", "organizationalPerson", "user"},
		"sAMAccountName": {"diego"}, "employeeID": {"1042"}, "userAccountControl": {"544"}}); err != nil {
		return err
	}
	for _, g := range tf.Groups {
		if g["onPremisesSyncEnabled"] != true {
			continue
		}
		dn := "CN=Sales,CN=Users," + testdc.BaseDN
		if err := add(conn, dn, map[string][]string{"objectClass": {"top", "group"}, "sAMAccountName": {"Sales"}, "groupType": {"-2147483646"}}); err != nil {
			return err
		}
		if g["onPremisesSecurityIdentifier"], err = sidOf(conn, dn); err != nil {
			return err
		}
	}

	step("starting graphsim with the sample tenant (%d groups, %d users)", len(tf.Groups), len(tf.Users))
	sim, err := graphsim.Start(graphsim.Options{Tenant: tf, CertDir: work})
	if err != nil {
		return err
	}
	defer sim.Close()
	fmt.Println("Graph and the authority at", sim.URL)

	config := filepath.Join(work, "config.yaml")
	if err := os.WriteFile(config, []byte(sim.CloudConfig(tf.TenantID, "5b0f8a8e-3b55-4c5e-9f5c-1f6f0f2d7e10", "demo-groupwriteback-secret")+
		dc.DirectoryConfig()+"writeback:\n  target_ou: "+targetOU+"\n  match_unsynced:\n    rules: [employeeId]\n    search_bases: [\""+staffOU+"\"]\n"), 0o600); err != nil {
		return err
	}
	gwb := func(args ...string) error {
		fmt.Printf("$ groupwriteback %s\n", strings.Join(args, " "))
		cmd := exec.Command(bin, append([]string{"--config", config, "--log-level", "warn"}, args...)...)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		err := cmd.Run()
		if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 2 {
			return nil // some groups not in step: reported above
		}
		return err
	}

	step("enable: check the prerequisites, show what the first sync will do, turn writeback on")
	if err := gwb("enable"); err != nil {
		return err
	}
	step("the first sync")
	if err := gwb("sync"); err != nil {
		return err
	}
	step("the groups as AD sees them")
	if err := show(conn, targetOU); err != nil {
		return err
	}
	step("a second sync changes nothing")
	if err := gwb("sync"); err != nil {
		return err
	}

	step("in the cloud: Marketing is renamed and Christie joins VPN users (graphsim's in-process form of Graph's PATCH and members/$ref calls)")
	tn := sim.Server.Tenant()
	if err := tn.UpdateGroup("6a1e0c55-0001-4f0e-9d3b-2c1a0b9f8e7d", map[string]any{"displayName": "Marketing EMEA"}); err != nil {
		return err
	}
	if err := tn.AddMember("6a1e0c55-0004-4f0e-9d3b-2c1a0b9f8e7d", "3f2b1c4d-0003-4a5b-8c6d-7e8f90a1b2c3"); err != nil {
		return err
	}
	if err := gwb("sync"); err != nil {
		return err
	}
	step("the groups as AD sees them now")
	if err := show(conn, targetOU); err != nil {
		return err
	}

	step("provision on demand: writeback is turned on for Lab admins in the cloud, and that one group is written now, with its trace")
	if err := tn.UpdateGroup("6a1e0c55-0005-4f0e-9d3b-2c1a0b9f8e7d", map[string]any{"writebackConfiguration": map[string]any{"isEnabled": true}}); err != nil {
		return err
	}
	return gwb("sync", "--group", "Lab admins")
}

func add(conn *ldap.Conn, dn string, attrs map[string][]string) error {
	req := ldap.NewAddRequest(dn, nil)
	for k, v := range attrs {
		req.Attribute(k, v)
	}
	if err := conn.Add(req); err != nil {
		return fmt.Errorf("add %s: %w", dn, err)
	}
	return nil
}

func sidOf(conn *ldap.Conn, dn string) (string, error) {
	res, err := conn.Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false, "(objectClass=*)", []string{"objectSid"}, nil))
	if err != nil || len(res.Entries) != 1 {
		return "", fmt.Errorf("read SID of %s: %v", dn, err)
	}
	return directory.SIDString(res.Entries[0].GetRawAttributeValue("objectSid")), nil
}

// show prints the written-back groups like ldapsearch would.
func show(conn *ldap.Conn, ou string) error {
	attrs := []string{"sAMAccountName", "groupType", "displayName", "description", "adminDescription", "msDS-ExternalDirectoryObjectId",
		"mail", "proxyAddresses", "msExchRecipientTypeDetails", "member"}
	res, err := conn.Search(ldap.NewSearchRequest(ou, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false, "(objectClass=group)", attrs, nil))
	if err != nil {
		return err
	}
	for _, e := range res.Entries {
		fmt.Printf("dn: %s\n", e.DN)
		for _, a := range attrs {
			for _, v := range e.GetAttributeValues(a) {
				fmt.Printf("  %s: %s\n", a, v)
			}
		}
	}
	return nil
}
