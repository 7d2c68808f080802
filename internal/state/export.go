package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode"

	"github.com/groupwriteback/groupwriteback/internal/policy"
)

// ExportVersion is the version of the export format (docs/operating.md).
const ExportVersion = 1

// Export is a whole state, portable between machines and stores: what
// `state export` writes and `state import` reads. Moving a service to a
// new server with it keeps writeback enabled, the delta links (with the
// snapshot they belong to), every group's status, the run history and the
// operation log.
type Export struct {
	Version  int       `json:"version"`
	Kind     string    `json:"kind"`
	Exported time.Time `json:"exported"`
	// Meta holds the settings: binding, enablement, the tenant's writeback
	// default, the engine's and the alerts' keys, a staging plan.
	Meta       map[string]string          `json:"meta"`
	Links      Links                      `json:"deltaLinks"`
	Groups     map[string]json.RawMessage `json:"groups"`
	Users      map[string]json.RawMessage `json:"users"`
	Statuses   []GroupStatus              `json:"statuses"`
	Runs       []Run                      `json:"runs"`
	Operations []Operation                `json:"operations"`
}

// ErrBadExport: a state export holds a row the tool would never have
// written. An export read back is untrusted input: it is checked whole,
// and refused whole, before anything is written.
var ErrBadExport = errors.New("not a state this groupwriteback wrote")

// BadRowError names the row of an export that is refused, and why.
type BadRowError struct {
	// Row is where it is, e.g. statuses[3] (cloud id …).
	Row string
	Why string
}

func (e *BadRowError) Error() string {
	return fmt.Sprintf("store: import: %s: %s (%v)", e.Row, e.Why, ErrBadExport)
}

func (e *BadRowError) Unwrap() error { return ErrBadExport }

// states are the group states the tool records.
var states = []string{Pending, InStep, Failed, Held, NotWritable, OutOfScope, Deleted, Quarantined}

// actions are the operations the tool records in its log.
var actions = []string{"create", "move", "rename", "update", "remove-members", "add-members", "delete"}

// cloudIDPattern is an Entra object id (a GUID), or what tests and the
// emulator use in its place: letters, digits and dashes.
var cloudIDPattern = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z-]{0,63}$`)

// markup is what starts an HTML tag, comment or declaration.
var markup = regexp.MustCompile(`<[A-Za-z/!?]`)

// Validate checks every row of an export (read back, it is untrusted
// input), and returns the first it refuses, as a *BadRowError.
func (e *Export) Validate() error {
	for k := range e.Meta {
		if strings.HasPrefix(k, SecretPrefix) {
			return &BadRowError{Row: "meta " + k, Why: "the state's secrets are never exported, and never imported"}
		}
	}
	for what, link := range map[string]string{"groups": e.Links.Groups, "users": e.Links.Users} {
		if link == "" {
			continue
		}
		if u, err := url.Parse(link); err != nil || u.Scheme != "https" || u.Host == "" {
			return &BadRowError{Row: "deltaLinks." + what, Why: fmt.Sprintf("%q is not an https URL", link)}
		}
	}
	for kind, objs := range map[string]map[string]json.RawMessage{"groups": e.Groups, "users": e.Users} {
		for id, raw := range objs {
			row := fmt.Sprintf("%s[%s]", kind, id)
			if !cloudIDPattern.MatchString(id) {
				return &BadRowError{Row: row, Why: "the id is not an Entra object id"}
			}
			var obj struct {
				ID      string            `json:"id"`
				Members map[string]string `json:"members"`
			}
			if err := json.Unmarshal(raw, &obj); err != nil {
				return &BadRowError{Row: row, Why: "not a JSON object: " + err.Error()}
			}
			if !strings.EqualFold(obj.ID, id) {
				return &BadRowError{Row: row, Why: fmt.Sprintf("it holds the object %q", obj.ID)}
			}
			for m := range obj.Members {
				if !cloudIDPattern.MatchString(m) {
					return &BadRowError{Row: row, Why: fmt.Sprintf("member %q is not an Entra object id", m)}
				}
			}
		}
	}
	for i, st := range e.Statuses {
		row := fmt.Sprintf("statuses[%d] (cloud id %q)", i, st.CloudID)
		switch {
		case !cloudIDPattern.MatchString(st.CloudID):
			return &BadRowError{Row: row, Why: "the cloud id is not an Entra object id"}
		case !contains(states, st.State):
			return &BadRowError{Row: row, Why: fmt.Sprintf("state %q is not one of %s", st.State, strings.Join(states, ", "))}
		case st.DN != "" && !parses(st.DN):
			return &BadRowError{Row: row, Why: fmt.Sprintf("dn %q is not a DN", st.DN)}
		}
		if why := badText(st.Name, 1024); why != "" {
			return &BadRowError{Row: row, Why: "name " + why}
		}
		if why := badText(st.SAM, 256); why != "" {
			return &BadRowError{Row: row, Why: "sam " + why}
		}
		if !kindPattern.MatchString(st.Kind) {
			return &BadRowError{Row: row, Why: fmt.Sprintf("kind %q is not a kind of group", st.Kind)}
		}
		if why := badText(st.Message, 64*1024); why != "" && !strings.Contains(why, "markup") {
			return &BadRowError{Row: row, Why: "message " + why}
		}
		for reason, n := range st.MembersNotWritten {
			if n < 0 || badText(reason, 64) != "" {
				return &BadRowError{Row: row, Why: fmt.Sprintf("membersNotWritten %q: %d", reason, n)}
			}
		}
	}
	seen := map[int64]bool{}
	for i, r := range e.Runs {
		row := fmt.Sprintf("runs[%d] (id %d)", i, r.ID)
		switch {
		case r.ID <= 0 || seen[r.ID]:
			return &BadRowError{Row: row, Why: "the id is not a new positive number"}
		case r.Started.IsZero():
			return &BadRowError{Row: row, Why: "it has no start"}
		case !r.Finished.IsZero() && r.Finished.Before(r.Started):
			return &BadRowError{Row: row, Why: "it finished before it started"}
		case len(r.Summary) > 0 && !json.Valid(r.Summary):
			return &BadRowError{Row: row, Why: "its summary is not JSON"}
		case !r.Outcome.Known():
			return &BadRowError{Row: row, Why: fmt.Sprintf("outcome %q is none this tool records", r.Outcome)}
		case r.Quiet < 0 || r.Quiet > 0 && r.Outcome != OutcomeOK:
			return &BadRowError{Row: row, Why: fmt.Sprintf("it stands for %d quiet cycles with outcome %q (quiet cycles are counted, and only ones that ended ok)", r.Quiet, r.Outcome)}
		}
		if why := badText(r.Mode+" "+string(r.Outcome), 256); why != "" {
			return &BadRowError{Row: row, Why: "mode or outcome " + why}
		}
		seen[r.ID] = true
	}
	for i, op := range e.Operations {
		row := fmt.Sprintf("operations[%d] (run %d, cloud id %q)", i, op.RunID, op.CloudID)
		switch {
		case !seen[op.RunID]:
			return &BadRowError{Row: row, Why: "no such run"}
		case !cloudIDPattern.MatchString(op.CloudID):
			return &BadRowError{Row: row, Why: "the cloud id is not an Entra object id"}
		case !contains(actions, op.Action):
			return &BadRowError{Row: row, Why: fmt.Sprintf("action %q is not one of %s", op.Action, strings.Join(actions, ", "))}
		case !parses(op.DN):
			return &BadRowError{Row: row, Why: fmt.Sprintf("dn %q is not a DN", op.DN)}
		case op.Outcome != "applied" && op.Outcome != "failed":
			return &BadRowError{Row: row, Why: fmt.Sprintf("outcome %q is not applied or failed", op.Outcome)}
		}
		if why := badText(op.Error, 64*1024); why != "" && !strings.Contains(why, "markup") {
			return &BadRowError{Row: row, Why: "error " + why}
		}
	}
	return nil
}

// badText says what is wrong with a text the tool would have written
// itself ("" when nothing): too long, control characters, or markup.
func badText(s string, limit int) string {
	switch {
	case len(s) > limit:
		return fmt.Sprintf("is longer than %d bytes", limit)
	case strings.ContainsFunc(s, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\t' }):
		return "holds control characters"
	case markup.MatchString(s):
		return "holds markup"
	}
	return ""
}

func parses(dn string) bool {
	_, err := policy.ParseDN(dn)
	return err == nil && dn != ""
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// kindPattern is a group kind as policy names them (microsoft365,
// syncedFromAD, …), or none.
var kindPattern = regexp.MustCompile(`^[A-Za-z0-9-]{0,40}$`)
