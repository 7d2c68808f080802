package graph

import (
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/groupwriteback/groupwriteback/internal/cloud"
)

// FuzzDeltaPage feeds any bytes to the delta page decoder as Graph's answer:
// it must never panic, every item it keeps has an id, and a removed item
// carries nothing but its removal. Seeds are the samples of Microsoft's docs.
func FuzzDeltaPage(f *testing.F) {
	files, _ := filepath.Glob("testdata/docs/*.json")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"value":[{"id":"g","@removed":{}},{"id":"g","members@delta":[{"@odata.type":"#microsoft.graph.user","id":"u","@removed":{"reason":"deleted"}}]}]}`))
	f.Add([]byte(`{"value":[{"id":1},{"members@delta":"x"},{"id":"g","displayName":5,"writebackConfiguration":[]}]}`))
	c := &Client{logger: slog.New(slog.DiscardHandler)}
	f.Fuzz(func(t *testing.T, body []byte) {
		var page deltaPage
		if json.Unmarshal(body, &page) != nil {
			return
		}
		groups, users := newGroupMerger(), newMerger[cloud.UserDelta]()
		for _, item := range page.Value {
			mergeGroupItem(groups, item, c)
			mergeUserItem(users, item, c)
		}
		whole := len(body)%2 == 0 // as a full round finishes its groups, or as a delta round
		for _, id := range groups.order {
			d := groups.finish(id, whole)
			if d.ID == "" {
				t.Fatalf("a group delta with no id from %q", body)
			}
			if whole && (len(d.MembersAdded)+len(d.MembersRemoved) > 0) || !whole && !d.Members.IsZero() {
				t.Fatalf("a group of a full round with member changes, or of a delta round with a member set: %+v", d)
			}
			if d.Removed != cloud.NotRemoved && (d.Present != 0 || len(d.MembersAdded) > 0 || !d.Members.IsZero()) {
				t.Fatalf("a removed group carries values: %+v", d)
			}
		}
		for _, id := range users.order {
			if u := users.items[id]; u.ID == "" || (u.Removed != cloud.NotRemoved && u.Present != 0) {
				t.Fatalf("bad user delta %+v", u)
			}
		}
	})
}
