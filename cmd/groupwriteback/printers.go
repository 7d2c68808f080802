package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/groupwriteback/groupwriteback/internal/engine"
	"github.com/groupwriteback/groupwriteback/internal/policy"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
)

// planVersion is the version of plan's and sync's JSON document
// (docs/plan-format.md).
const planVersion = 3

// planJSON is the documented JSON of plan and sync (docs/plan-format.md).
type planJSON struct {
	Version    int                                  `json:"version"`
	Kind       string                               `json:"kind"`
	Mode       string                               `json:"mode"`
	Operations opList                               `json:"operations"`
	Problems   []reconcile.Problem                  `json:"problems"`
	NotWritten map[string][]reconcile.MemberProblem `json:"membersNotWritten"`
	Skipped    []skipped                            `json:"notWrittenBack"`
	Notes      []note                               `json:"fieldsNotWrittenAsIs"`
	Failures   []engine.Failure                     `json:"notInStep"`
	Counts     engine.Counts                        `json:"counts"`
	LDAPWrites int                                  `json:"ldapWrites"`
	Trace      *engine.Trace                        `json:"trace,omitempty"`
	// Adopted and Restored are the groups taken over (never written by
	// this state) and brought back out of the quarantine OU; GroupNames
	// name the groups membersNotWritten lists by id.
	Adopted    []string          `json:"adopted,omitempty"`
	Restored   []string          `json:"restored,omitempty"`
	GroupNames map[string]string `json:"groupNames,omitempty"`
	// Matched are, by group, the members not synced from AD that a
	// writeback.match_unsynced rule matched, with the rule and account.
	Matched map[string][]reconcile.MemberMatch `json:"membersMatched,omitempty"`
}

// opList is the operations of plan's and sync's JSON. Written, they are
// read from the result one at a time (writeJSON), whether it holds them in
// memory or in the file a plan made to be shown spools them to; read back
// (json.Unmarshal), they are a list.
type opList struct {
	res  *engine.Result
	list []reconcile.Op
}

// each calls fn with each operation.
func (l opList) each(fn func(any) error) error {
	if l.res == nil {
		for _, op := range l.list {
			if err := fn(op); err != nil {
				return err
			}
		}
		return nil
	}
	return l.res.EachOp(func(op reconcile.Op) error { return fn(op) })
}

func (l opList) MarshalJSON() ([]byte, error) {
	ops := []reconcile.Op{}
	err := l.each(func(op any) error {
		ops = append(ops, op.(reconcile.Op))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return json.Marshal(ops)
}

func (l *opList) UnmarshalJSON(b []byte) error {
	l.res = nil
	return json.Unmarshal(b, &l.list)
}

// note is a field of a written group that was cleaned or left out.
type note struct {
	CloudID string `json:"cloudId"`
	Name    string `json:"name"`
	Field   string `json:"field"`
	Message string `json:"message"`
}

type skipped struct {
	CloudID string `json:"cloudId"`
	Name    string `json:"name"`
	// Code is soft_deleted, writeback_off or out_of_scope (which delete
	// policy applies); Reason says why in words.
	Code   string `json:"code"`
	Reason string `json:"reason"`
}

func jsonResult(res *engine.Result, dry bool) planJSON {
	kind := "sync"
	if dry {
		kind = "plan"
	}
	out := planJSON{Version: planVersion, Kind: kind, Mode: res.Mode, Operations: opList{res: res}, Problems: res.Plan.Problems,
		NotWritten: res.Plan.NotWritten, Failures: res.Failures, Counts: res.Counts, LDAPWrites: res.Writes, Trace: res.Trace,
		Adopted: res.Adopted, Restored: res.Restored, GroupNames: res.GroupNames, Matched: res.MembersMatched}
	if out.Problems == nil {
		out.Problems = []reconcile.Problem{}
	}
	if out.Failures == nil {
		out.Failures = []engine.Failure{}
	}
	for _, d := range res.Skipped {
		out.Skipped = append(out.Skipped, skipped{CloudID: d.CloudID, Name: d.Name, Code: strings.ReplaceAll(string(d.Cause), "-", "_"), Reason: d.Reason})
	}
	if out.Skipped == nil {
		out.Skipped = []skipped{}
	}
	out.Notes = []note{}
	for _, n := range res.Notes {
		out.Notes = append(out.Notes, note{CloudID: n.CloudID, Name: n.Name, Field: n.Field, Message: n.Message})
	}
	return out
}

// printPlan prints the plan: its counts, each operation, and what it
// restores, adopts, renames and holds back. It fails only when the
// operations of a plan made to be shown cannot be read back.
func printPlan(w io.Writer, res *engine.Result) error {
	n := map[reconcile.Action]int{}
	groups := map[reconcile.Action]map[string]bool{}
	for op := range res.Kept() {
		n[op.Action]++
		if groups[op.Action] == nil {
			groups[op.Action] = map[string]bool{}
		}
		groups[op.Action][op.CloudID] = true
	}
	changed := map[string]bool{}
	for _, a := range []reconcile.Action{reconcile.Rename, reconcile.Move, reconcile.Update, reconcile.ChangeScope, reconcile.AddMembers, reconcile.RemoveMembers} {
		for id := range groups[a] {
			if !groups[reconcile.Create][id] && !groups[reconcile.Restore][id] {
				changed[id] = true
			}
		}
	}
	restored := ""
	if n := len(groups[reconcile.Restore]); n > 0 {
		restored = fmt.Sprintf(" (%d restored from deleted objects)", n)
	}
	fmt.Fprintf(w, "plan (%s): %d to create%s, %d to change, %d to delete, %d unchanged\n",
		res.Mode, len(groups[reconcile.Create])+len(groups[reconcile.Restore]), restored, len(changed), len(groups[reconcile.Delete]), res.Counts.Unchanged)
	err := res.EachOp(func(op reconcile.Op) error {
		printOp(w, op)
		return nil
	})
	if err != nil {
		return err
	}
	// The rest needs no member value: it reads the operations as the
	// result keeps them.
	printRestored(w, res)
	printAdopted(w, res)
	printSAMChanges(w, res)
	printHeldBack(w, res)
	printNotes(w, res)
	return nil
}

// printSAMChanges warns of every sAMAccountName the plan changes on a
// group already written (writeback.sam_on_rename: follow, or a group
// adopted): sssd, scripts and applications that key on it see a new name.
func printSAMChanges(w io.Writer, res *engine.Result) {
	for op := range res.Kept() {
		if ch, ok := op.Change("sAMAccountName"); ok && op.Action == reconcile.Update && len(ch.Old) > 0 {
			fmt.Fprintf(w, "warning: the sAMAccountName of %q changes from %q to %q: sssd, scripts and applications that key on it see a new name "+
				"(writeback.sam_on_rename: keep leaves it as it was created)\n", policy.RDNValue(op.DN), strings.Join(ch.Old, ""), strings.Join(ch.New, ""))
		}
	}
}

// printAdopted names the groups the plan takes over: found in AD by their
// anchor, never written by this state.
func printAdopted(w io.Writer, res *engine.Result) {
	if len(res.Adopted) == 0 {
		return
	}
	adopt := map[string]bool{}
	for _, id := range res.Adopted {
		adopt[id] = true
	}
	var names []string
	for op := range res.Kept() {
		if adopt[op.CloudID] {
			names = append(names, strconv.Quote(policy.RDNValue(op.DN)))
			delete(adopt, op.CloudID)
		}
	}
	fmt.Fprintf(w, "adopt: %d groups this state never wrote, found in AD by their anchor (Connect's group writeback, or an earlier install), "+
		"are taken over by the operations above (their cn and sAMAccountName change where shown): %s\n", len(res.Adopted), strings.Join(names, ", "))
}

// printRestored names the groups a full cycle brings back out of the
// quarantine OU: the tool's own quarantine undone, not drift.
func printRestored(w io.Writer, res *engine.Result) {
	if len(res.Restored) == 0 {
		return
	}
	back := map[string]bool{}
	for _, id := range res.Restored {
		back[id] = true
	}
	var names []string
	for op := range res.Kept() {
		if op.Action == reconcile.Move && back[op.CloudID] {
			names = append(names, strconv.Quote(policy.RDNValue(op.DN)))
			delete(back, op.CloudID)
		}
	}
	fmt.Fprintf(w, "restored from quarantine (this tool had moved them there; they come back with their members): %s\n", strings.Join(names, ", "))
}

// printFromDeleted names the groups restored from AD's deleted objects,
// and those created anew whose deleted object could not be restored, and
// why.
func printFromDeleted(w io.Writer, res *engine.Result) {
	var restored []string
	for op := range res.Kept() {
		switch {
		case op.Action == reconcile.Restore:
			restored = append(restored, strconv.Quote(policy.RDNValue(op.DN)))
		case op.Action == reconcile.Create && strings.HasPrefix(op.Reason, reconcile.CreatedAnew):
			fmt.Fprintf(w, "%q %s\n", policy.RDNValue(op.DN), op.Reason)
		}
	}
	if len(restored) > 0 {
		fmt.Fprintf(w, "restored from deleted objects (the same AD objects, with their objectSid: ACLs and nestings that named them hold again): %s\n", strings.Join(restored, ", "))
	}
}

// printHeldBack names what the delete threshold holds back, with the
// command that lets it through.
func printHeldBack(w io.Writer, res *engine.Result) {
	if len(res.Plan.HeldBack) == 0 {
		return
	}
	for _, p := range res.Plan.Problems {
		if errors.Is(p.Err, reconcile.ErrThresholdExceeded) {
			fmt.Fprintf(w, "held back by the delete threshold: %s\n", p.Message)
		}
	}
	for _, op := range res.Plan.HeldBack {
		printOp(w, op)
	}
}

func printOp(w io.Writer, op reconcile.Op) {
	if op.SID != "" {
		defer fmt.Fprintf(w, "            in place: the original AD group of SID %s (its source of authority moved to the cloud)\n", op.SID)
	}
	switch op.Action {
	case reconcile.Create, reconcile.Restore:
		if op.Action == reconcile.Restore {
			fmt.Fprintf(w, "  restore %s\n            %s\n            from: %s\n", op.DN, op.Reason, op.From)
		} else {
			fmt.Fprintf(w, "  create  %s\n", op.DN)
			if op.Reason != "" {
				fmt.Fprintf(w, "            %s\n", op.Reason)
			}
		}
		for _, c := range op.Changes {
			fmt.Fprintf(w, "            %s: %s\n", c.Name, strings.Join(c.New, ", "))
		}
		if len(op.Members) > 0 {
			fmt.Fprintf(w, "            member: %d\n", len(op.Members))
		}
	case reconcile.Rename:
		fmt.Fprintf(w, "  rename  %s\n      to  %s\n", op.DN, op.NewRDN)
	case reconcile.ChangeScope:
		fmt.Fprintf(w, "  scope   %s\n            %s (%s)\n", op.DN, attrChange(op.Changes[0]), op.Reason)
	case reconcile.Update:
		fmt.Fprintf(w, "  update  %s\n", op.DN)
		for _, c := range op.Changes {
			fmt.Fprintf(w, "            %s\n", attrChange(c))
		}
	case reconcile.AddMembers, reconcile.RemoveMembers:
		sign := "+"
		if op.Action == reconcile.RemoveMembers {
			sign = "-"
		}
		fmt.Fprintf(w, "  members %s: %s%d", op.DN, sign, len(op.Members))
		if len(op.Members) <= 3 {
			fmt.Fprintf(w, " (%s)", strings.Join(op.Members, "; "))
		}
		fmt.Fprintln(w)
	case reconcile.Delete:
		fmt.Fprintf(w, "  delete  %s (%s)\n", op.DN, op.Reason)
	case reconcile.Move:
		fmt.Fprintf(w, "  move    %s\n      to  %s", op.DN, op.NewParent)
		if op.Reason != "" {
			fmt.Fprintf(w, " (%s)", op.Reason)
		}
		fmt.Fprintln(w)
	}
}

func show(v []string) string {
	if len(v) == 0 {
		return "(none)"
	}
	return fmt.Sprintf("%q", strings.Join(v, ", "))
}

// attrChange is an attribute change as every printer writes it:
// name: "old" -> "new".
func attrChange(c reconcile.AttrChange) string {
	return c.Name + ": " + show(c.Old) + " -> " + show(c.New)
}

// printFieldNotes lists the fields written cleaned or left out.
func printFieldNotes(w io.Writer, res *engine.Result) {
	if len(res.Notes) == 0 {
		return
	}
	fmt.Fprintln(w, "fields not written as the cloud has them (the rest of each group is written):")
	for _, n := range res.Notes {
		fmt.Fprintf(w, "  %s %q: %s: %s\n", n.CloudID, n.Name, n.Field, n.Message)
	}
}

// shownMatches is how many matched members a group's line names; the
// JSON output lists them all.
const shownMatches = 10

// printMatched lists, by group, the members not synced from AD that a
// writeback.match_unsynced rule matched to an AD account, and by which
// rule.
func printMatched(w io.Writer, res *engine.Result) {
	if len(res.MembersMatched) == 0 {
		return
	}
	fmt.Fprintln(w, "members not synced from AD, matched by writeback.match_unsynced:")
	for _, id := range slices.Sorted(maps.Keys(res.MembersMatched)) {
		ms := res.MembersMatched[id]
		by := map[string]int{}
		for _, m := range ms {
			by[m.Rule]++
		}
		var rules []string
		for _, r := range slices.Sorted(maps.Keys(by)) {
			rules = append(rules, fmt.Sprintf("%s %d", r, by[r]))
		}
		fmt.Fprintf(w, "  %s %q: %d (%s)\n", id, res.GroupNames[id], len(ms), strings.Join(rules, ", "))
		for _, m := range ms[:min(len(ms), shownMatches)] {
			fmt.Fprintf(w, "    %s -> %s (rule %s)\n", m.CloudID, m.DN, m.Rule)
		}
		if len(ms) > shownMatches {
			fmt.Fprintf(w, "    … and %d more (-o json lists them all)\n", len(ms)-shownMatches)
		}
	}
}

func printNotes(w io.Writer, res *engine.Result) {
	printFieldNotes(w, res)
	printMatched(w, res)
	if len(res.Plan.NotWritten) > 0 {
		fmt.Fprintln(w, "members not written:")
		ids := make([]string, 0, len(res.Plan.NotWritten))
		for id := range res.Plan.NotWritten {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			reasons := map[string]int{}
			for _, mp := range res.Plan.NotWritten[id] {
				reasons[mp.Reason]++
			}
			var parts []string
			for r, c := range reasons {
				parts = append(parts, fmt.Sprintf("%d %s", c, r))
			}
			sort.Strings(parts)
			fmt.Fprintf(w, "  %s %q: %s\n", id, res.GroupNames[id], strings.Join(parts, "; "))
		}
	}
	if len(res.Skipped) > 0 {
		fmt.Fprintln(w, "not written back:")
		for _, d := range res.Skipped {
			fmt.Fprintf(w, "  %s %q: %s\n", d.CloudID, d.Name, d.Reason)
		}
	}
	if len(res.Failures) > 0 {
		fmt.Fprintln(w, "not in step:")
		for _, f := range res.Failures {
			if f.CloudID == "" {
				fmt.Fprintf(w, "  %s\n", f.Message)
				continue
			}
			fmt.Fprintf(w, "  %s %q: %s: %s\n", f.CloudID, f.Name, f.State, f.Message)
		}
	}
}

func printSync(w io.Writer, res *engine.Result) {
	c := res.Counts
	fmt.Fprintf(w, "sync (%s): %d created, %d updated, %d deleted, %d quarantined, %d unchanged, %d failed, %d not writable; %d LDAP writes\n",
		res.Mode, c.Created, c.Updated, c.Deleted, c.Quarantined, c.Unchanged, c.Failed, c.NotWritable, res.Writes)
	printFieldNotes(w, res)
	printMatched(w, res)
	printRestored(w, res)
	printFromDeleted(w, res)
	printAdopted(w, res)
	printHeldBack(w, res)
	if len(res.Drift) > 0 {
		fmt.Fprintf(w, "drift repaired (AD edited by hand, overwritten with the cloud's values): %s\n", strings.Join(res.Drift, ", "))
	}
	if len(c.MembersNotWritten) > 0 {
		var parts []string
		total := 0
		for r, n := range c.MembersNotWritten {
			parts = append(parts, fmt.Sprintf("%d %s", n, policy.MemberReasonText(r)))
			total += n
		}
		sort.Strings(parts)
		fmt.Fprintf(w, "members not written: %d (%s)\n", total, strings.Join(parts, "; "))
	}
	for _, p := range res.Plan.Problems {
		if p.CloudID == "" && !errors.Is(p.Err, reconcile.ErrThresholdExceeded) { // that one is printed with what it holds back
			fmt.Fprintf(w, "problem: %s\n", p.Message)
		}
	}
	if len(res.Failures) > 0 {
		fmt.Fprintln(w, "not in step:")
		for _, f := range res.Failures {
			if f.CloudID == "" {
				continue
			}
			fmt.Fprintf(w, "  %s %q: %s: %s\n", f.CloudID, f.Name, f.State, f.Message)
		}
	}
}
