package advice_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/groupwriteback/groupwriteback/internal/advice"
	"github.com/groupwriteback/groupwriteback/internal/directory"
	"github.com/groupwriteback/groupwriteback/internal/graph"
	"github.com/groupwriteback/groupwriteback/internal/state"
)

func TestFor(t *testing.T) {
	network := ldap.NewError(ldap.ErrorNetwork, errors.New("ldap: connection closed"))
	tests := []struct {
		name    string
		err     error
		summary string // the summary holds this
		fix     string // the fix holds this
	}{
		{"the DC gone under a search (issue 24's chain)",
			fmt.Errorf("engine: writeback.target_ou: %w", &directory.Error{Op: "search", DN: "OU=Groups,DC=x", Code: ldap.ErrorNetwork, Err: network}),
			"the domain controller cannot be reached", "directory.url"},
		{"a raw go-ldap error", fmt.Errorf("engine: writeback.target_ou: directory: search: %w", network),
			"the domain controller cannot be reached", "directory.url"},
		{"no rights", &directory.Error{Op: "add", DN: "CN=Sales,OU=Groups,DC=x", Code: ldap.LDAPResultInsufficientAccessRights},
			"the service account lacks the right to add CN=Sales,OU=Groups,DC=x", "--print-delegation"},
		{"a bad password", fmt.Errorf("directory: bind: %w", ldap.NewError(ldap.LDAPResultInvalidCredentials, errors.New("80090308"))),
			"invalid credentials", "directory.password_file"},
		{"no OU", &directory.Error{Op: "search", DN: "OU=Gone,DC=x", Code: ldap.LDAPResultNoSuchObject}, "AD has no object OU=Gone,DC=x", "writeback.target_ou"},
		{"a member gone", &directory.Error{Op: "add members to", DN: "CN=Sales,OU=Groups,DC=x", Code: ldap.LDAPResultNoSuchObject},
			"AD has no object CN=Sales,OU=Groups,DC=x, or none a member value of it names", "the next cycle looks it up again"},
		{"the DC stayed away", &directory.UnavailableError{URL: "ldap://dc1", Attempts: 3, Err: network},
			"the domain controller ldap://dc1 cannot be reached", "directory.urls"},
		{"Graph forbids", fmt.Errorf("engine: read the cloud: %w", &graph.Error{Method: "GET", Path: "/v1.0/groups", StatusCode: 403, Code: "Authorization_RequestDenied"}),
			"lacks a Microsoft Graph permission for GET /v1.0/groups", "Group.Read.All"},
		{"Graph refuses the token", &graph.Error{Method: "GET", Path: "/v1.0/groups", StatusCode: 401}, "refused the app's token", "cloud.client_id"},
		{"the lease lost", fmt.Errorf("engine: apply: %w", &state.FencedError{What: "save", Token: 3, Holder: "b", HolderToken: 4}),
			"lost the writer lease", "groupwriteback status"},
		{"out of time", fmt.Errorf("engine: resolve members: %w", context.DeadlineExceeded), "ran out of time", "schedule.cycle_timeout"},
		{"unknown", errors.New("engine: reconcile: something odd"), "something odd", "groupwriteback doctor"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := advice.For(tt.err)
			if !strings.Contains(a.Summary, tt.summary) || !strings.Contains(a.Fix, tt.fix) {
				t.Errorf("For = summary %q fix %q, want summary with %q and fix with %q", a.Summary, a.Fix, tt.summary, tt.fix)
			}
			if strings.Contains(a.Summary, "engine:") || strings.Contains(a.Summary, "directory:") || strings.Contains(a.Summary, "graph:") {
				t.Errorf("summary %q repeats the chain's prefixes", a.Summary)
			}
			if a.Detail != tt.err.Error() {
				t.Errorf("detail = %q, want the whole chain %q", a.Detail, tt.err.Error())
			}
			if l := a.Line(); !strings.HasPrefix(l, a.Summary+". Fix: ") || strings.Contains(l, "\n") {
				t.Errorf("Line = %q", l)
			}
		})
	}
	if a := advice.For(nil); a != (advice.Advice{}) {
		t.Errorf("For(nil) = %+v", a)
	}
}

func TestExplainedOnlyWhatSaysItself(t *testing.T) {
	if _, ok := advice.Explained(errors.New(`unknown flag: --frob`)); ok {
		t.Error("a usage error is shown as it is, not with a doctor fix")
	}
	a, ok := advice.Explained(fmt.Errorf("sync: %w", &graph.Error{Method: "GET", Path: "/v1.0/users", StatusCode: 403}))
	if !ok {
		t.Fatal("a Graph 403 says itself")
	}
	s := a.String()
	if !strings.Contains(s, "\n  fix: grant the app registration") || !strings.Contains(s, "\n  detail: sync: graph: GET /v1.0/users: 403") {
		t.Errorf("String =\n%s", s)
	}
}
