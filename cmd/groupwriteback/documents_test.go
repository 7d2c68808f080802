package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/cloud"
	"github.com/groupwriteback/groupwriteback/internal/doctor"
	"github.com/groupwriteback/groupwriteback/internal/engine"
)

// documentedVersions reads, from the JSON examples of the docs, the
// version each kind of document carries.
func documentedVersions(t *testing.T) map[string]int {
	t.Helper()
	kind := regexp.MustCompile(`"kind": "([a-z-]+)"`)
	version := regexp.MustCompile(`"version": (\d+)`)
	block := regexp.MustCompile("(?s)```json\n(.*?)```")
	out := map[string]int{}
	for _, name := range []string{"json-formats.md", "plan-format.md"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "docs", name))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range block.FindAllSubmatch(b, -1) {
			k, v := kind.FindSubmatch(m[1]), version.FindSubmatch(m[1])
			if k == nil || v == nil {
				continue
			}
			n, _ := strconv.Atoi(string(v[1]))
			out[string(k[1])] = n
		}
	}
	return out
}

// TestJSONDocuments: every -o json document is one typed value that
// carries the version and kind its documentation shows, first.
func TestJSONDocuments(t *testing.T) {
	docs := documentedVersions(t)
	res := &engine.Result{Mode: "delta", Counts: engine.Counts{MembersNotWritten: map[string]int{}}}
	for _, tc := range []struct {
		kind string
		doc  any
	}{
		{"plan", jsonResult(res, true)},
		{"sync", jsonResult(res, false)},
		{"status", statusView{}.json()},
		{"show", newShowJSON(&engine.Explanation{})},
		{"doctor", newDoctorJSON(&doctor.Report{})},
		{"audit", newAuditJSON(time.Time{}, nil)},
		{"cloud-changes", newCloudChangesJSON(jsonRound(false, cloud.RoundStats{Pages: 1}, nil), jsonRound(true, cloud.RoundStats{Pages: 2}, nil))},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			b, err := json.Marshal(tc.doc)
			if err != nil {
				t.Fatal(err)
			}
			var head struct {
				Version int    `json:"version"`
				Kind    string `json:"kind"`
			}
			if err := json.Unmarshal(b, &head); err != nil {
				t.Fatal(err)
			}
			want, documented := docs[tc.kind]
			if tc.kind == "sync" {
				want, documented = docs["plan"] // one format (docs/plan-format.md)
			}
			if !documented {
				t.Fatalf("no example in docs/json-formats.md or docs/plan-format.md shows the kind %q", tc.kind)
			}
			if head.Kind != tc.kind || head.Version != want {
				t.Fatalf("the document says kind %q, version %d; the docs show version %d", head.Kind, head.Version, want)
			}
			if !regexp.MustCompile(`^\{"version":\d+,"kind":`).Match(b) {
				t.Fatalf("version and kind do not come first: %.60s", b)
			}
		})
	}
}
