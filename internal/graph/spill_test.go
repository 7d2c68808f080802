package graph

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/groupwriteback/groupwriteback/internal/cloud"
)

// spillRecorder keeps what a round spilled, voided by a batch from 0.
type spillRecorder struct {
	t       *testing.T
	froms   []int
	entries []cloud.UserDelta
	fail    error
}

func (r *spillRecorder) Spill(_ context.Context, from int, batch []cloud.UserDelta) error {
	if r.fail != nil {
		return r.fail
	}
	if from == 0 {
		r.entries = nil
	}
	if from != len(r.entries) {
		r.t.Errorf("a batch from %d after %d entries", from, len(r.entries))
	}
	r.froms = append(r.froms, from)
	r.entries = append(r.entries, slices.Clone(batch)...)
	return nil
}

// heldUsers are the users a round read whole describes, as the engine
// applies it.
func heldUsers(r *cloud.UserRound) map[string]*cloud.User {
	s := cloud.NewSnapshot()
	s.ApplyUsers(r.Full, r.Changes)
	return s.Users
}

// TestUsersRoundSpilled: a full round of users goes to the spill a few
// at a time as it is read, and what was spilled, folded, is the users the
// round read whole describes, a user repeated across batches included;
// a resync voids what was spilled; a delta round, or one without a spill,
// is held as before; a spill that fails fails the round.
func TestUsersRoundSpilled(t *testing.T) {
	defer func(n int) { spillBatch = n }(spillBatch)
	spillBatch = 2
	dir := t.TempDir()
	page := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const a, b, c = "0a4c6f0e-0000-4000-8000-00000000000a", "0a4c6f0e-0000-4000-8000-00000000000b", "0a4c6f0e-0000-4000-8000-00000000000c"
	first := page("1.json", `{"value":[
		{"id":"`+a+`","displayName":"Ann","userPrincipalName":"ann@contoso.com"},
		{"id":"`+b+`","displayName":"Bob"}],
		"@odata.nextLink":"https://graph.microsoft.com/v1.0/users/delta?$skiptoken=2"}`)
	second := page("2.json", `{"value":[
		{"id":"`+a+`","onPremisesSecurityIdentifier":"S-1-5-21-1-2-3-1104","onPremisesSyncEnabled":true},
		{"id":"`+b+`","@removed":{"reason":"deleted"}},
		{"id":"`+c+`","@removed":{"reason":"changed"}},
		{"id":"`+c+`","displayName":"Cy, restored"}],
		"@odata.deltaLink":"https://graph.microsoft.com/v1.0/users/delta?$deltatoken=next"}`)
	round := []step{{query: "$select=", file: first}, {query: "skiptoken=2", file: second}}
	ctx := context.Background()

	whole, err := docServer(t, round...).UsersDelta(ctx, "", nil)
	if err != nil || whole.Spilled || len(whole.Changes) != 3 {
		t.Fatalf("without a spill: %v, %+v", err, whole)
	}
	want := heldUsers(whole)
	if len(want) != 2 || want[a].OnPremisesSecurityIdentifier == "" || want[a].UserPrincipalName == "" || want[c].DisplayName != "Cy, restored" {
		t.Fatalf("the round read whole: %+v", want)
	}

	rec := &spillRecorder{t: t}
	r, err := docServer(t, round...).UsersDelta(ctx, "", rec)
	if err != nil || !r.Spilled || !r.Full || len(r.Changes) != 0 || r.DeltaLink == "" || r.Stats.Items != 6 {
		t.Fatalf("spilled: %v, %+v", err, r)
	}
	if !slices.Equal(rec.froms, []int{0, 2, 4}) || len(rec.entries) != 5 {
		t.Errorf("batches from %v, %d entries; want from 0, 2 and 4 (%s twice, in each page's batch)", rec.froms, len(rec.entries), a)
	}
	if got := cloud.FoldUsers(rec.entries); !reflect.DeepEqual(got, want) {
		t.Errorf("spilled, folded: %+v; want %+v", got, want)
	}

	// A stale link: a delta round, not spilled, until Graph asks for a
	// resync; the full round that follows is.
	stale := []step{{query: "deltatoken=stale", status: 410, header: map[string]string{"Location": "https://graph.microsoft.com/v1.0/users/delta?$deltatoken="}}}
	rec = &spillRecorder{t: t, entries: []cloud.UserDelta{{ID: "an earlier round's"}}}
	c2 := docServer(t, append(stale, round...)...)
	r, err = c2.UsersDelta(ctx, c2.endpoint("/v1.0/users/delta", nil)+"?$deltatoken=stale", rec)
	if err != nil || !r.Spilled || r.Stats.Resyncs != 1 || !slices.Equal(rec.froms, []int{0, 2, 4}) || !reflect.DeepEqual(cloud.FoldUsers(rec.entries), want) {
		t.Errorf("after a resync: %v, %+v, batches from %v", err, r, rec.froms)
	}

	// A delta round is held whatever the spill.
	rec = &spillRecorder{t: t}
	c3 := docServer(t, step{query: "deltatoken=next", file: second})
	r, err = c3.UsersDelta(ctx, c3.endpoint("/v1.0/users/delta", nil)+"?$deltatoken=next", rec)
	if err != nil || r.Spilled || len(r.Changes) != 3 || rec.froms != nil {
		t.Errorf("a delta round: %v, spilled %v, %d changes, batches from %v", err, r.Spilled, len(r.Changes), rec.froms)
	}

	// A tenant without users spills one empty batch: what was staged
	// before is void.
	empty := page("empty.json", `{"value":[],"@odata.deltaLink":"https://graph.microsoft.com/v1.0/users/delta?$deltatoken=next"}`)
	rec = &spillRecorder{t: t, entries: []cloud.UserDelta{{ID: "an earlier round's"}}}
	if r, err := docServer(t, step{query: "$select=", file: empty}).UsersDelta(ctx, "", rec); err != nil || !r.Spilled || !slices.Equal(rec.froms, []int{0}) || len(rec.entries) != 0 {
		t.Errorf("no users: %v, %+v, batches from %v, %d entries", err, r, rec.froms, len(rec.entries))
	}

	// A spill that fails fails the round at once.
	boom := errors.New("the state is full")
	rec = &spillRecorder{t: t, fail: boom}
	if _, err := docServer(t, round[0]).UsersDelta(ctx, "", rec); !errors.Is(err, boom) {
		t.Errorf("a failed spill: %v, want %v", err, boom)
	}
}
