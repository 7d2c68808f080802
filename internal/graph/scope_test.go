package graph

import (
	"context"
	"net/http"
	"slices"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// scopeRecorder is a credential that records the scopes it is asked for.
type scopeRecorder struct{ scopes [][]string }

func (r *scopeRecorder) GetToken(_ context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	r.scopes = append(r.scopes, o.Scopes)
	return azcore.AccessToken{Token: "t"}, nil
}

// TestNationalCloudScopes: the token scope follows graph_url, for every
// credential kind alike (the client, not the credential, picks it).
func TestNationalCloudScopes(t *testing.T) {
	for graphURL, want := range map[string]string{
		"https://graph.microsoft.com":             "https://graph.microsoft.com/.default",
		"https://graph.microsoft.us":              "https://graph.microsoft.us/.default",
		"https://dod-graph.microsoft.us/":         "https://dod-graph.microsoft.us/.default",
		"https://microsoftgraph.chinacloudapi.cn": "https://microsoftgraph.chinacloudapi.cn/.default",
		"https://127.0.0.1:8443":                  "https://127.0.0.1:8443/.default",
	} {
		rec := &scopeRecorder{}
		c, err := New(Options{GraphURL: graphURL, Credential: rec, HTTPClient: &http.Client{}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.token(context.Background(), false); err != nil {
			t.Fatal(err)
		}
		if len(rec.scopes) != 1 || !slices.Equal(rec.scopes[0], []string{want}) {
			t.Errorf("graph_url %s: scopes %v, want [%s]", graphURL, rec.scopes, want)
		}
		if got := Scope(graphURL); got != want {
			t.Errorf("Scope(%s) = %s", graphURL, got)
		}
	}
}
