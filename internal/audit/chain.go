package audit

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
)

// The chain: each line ends with "chain", the HMAC-SHA256 (keyed by the
// state's audit key) of the chain value of the line before it and of the
// line itself without its chain value. A line edited, added or removed
// changes every value after it, which only the key's holder can compute.

// chainSuffix is how a sealed line ends.
var chainSuffix = regexp.MustCompile(`,"chain":"([0-9a-f]{64})"\}$`)

// seal is e as one line of the trail, chained to prev, and its chain value.
func seal(key []byte, prev string, e Entry) (line []byte, chain string, err error) {
	e.Chain = ""
	body, err := json.Marshal(e)
	if err != nil {
		return nil, "", err
	}
	chain = mac(key, prev, body)
	line = make([]byte, 0, len(body)+80)
	line = append(line, body[:len(body)-1]...)
	line = append(line, `,"chain":"`...)
	line = append(line, chain...)
	line = append(line, "\"}\n"...)
	return line, chain, nil
}

func mac(key []byte, prev string, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(prev))
	m.Write([]byte{'\n'})
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// unseal splits a sealed line into its body (as it was chained) and its
// chain value; ok is false for a line that carries none.
func unseal(line []byte) (body []byte, chain string, ok bool) {
	m := chainSuffix.FindSubmatchIndex(line)
	if m == nil {
		return nil, "", false
	}
	body = append(bytes.Clone(line[:m[0]]), '}')
	return body, string(line[m[2]:m[3]]), true
}

// Report is what Verify found.
type Report struct {
	// Lines are the lines read; Verified those whose chain value holds.
	Lines, Verified int
	// First and Last are the sequence numbers of the first and last
	// chained entries (First follows a checkpoint's).
	First, Last int64
	// LastChain is the last chained line's value.
	LastChain string
	// Pruned is how many entries retention dropped before the
	// checkpoint, when there is one.
	Pruned int
	// Unchained are lines written before the trail was chained (an older
	// groupwriteback), all before the first chained line.
	Unchained int
	// Damaged are lines that are no entry: a write a crash cut short, or
	// an edit that broke the JSON.
	Damaged []int
	// Broken are the lines whose chain does not hold, and why.
	Broken []Break
}

// Break is one line whose chain does not hold.
type Break struct {
	Line int
	Seq  int64
	Why  string
}

// OK reports whether the whole trail verified.
func (r *Report) OK() bool { return len(r.Broken) == 0 && len(r.Damaged) == 0 }

// Verify reads the trail at path and checks its chain with key: every
// line's value, and that the sequence numbers follow one another. A line
// edited, added or removed by hand breaks it, and is named.
func Verify(path string, key []byte) (*Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	defer f.Close()
	r := &Report{}
	prev, next, begun := "", int64(0), false
	err = lines(f, func(n int, line []byte) error {
		r.Lines++
		var e Entry
		if json.Unmarshal(line, &e) != nil {
			r.Damaged = append(r.Damaged, n)
			return nil
		}
		body, chain, sealed := unseal(line)
		if !sealed {
			if begun {
				r.Broken = append(r.Broken, Break{Line: n, Seq: e.Seq, Why: "it carries no chain value: added by hand, or edited"})
			} else {
				r.Unchained++
			}
			return nil
		}
		if e.Outcome == OutcomeCheckpoint {
			if begun {
				r.Broken = append(r.Broken, Break{Line: n, Seq: e.Seq, Why: "a checkpoint in the middle of the trail"})
				return nil
			}
			if mac(key, e.Prev, body) != chain {
				r.Broken = append(r.Broken, Break{Line: n, Seq: e.Seq, Why: "the checkpoint's chain value does not hold: it was edited, or written without the key"})
				return nil
			}
			prev, next, begun, r.Pruned = e.Prev, e.Seq+1, true, e.Pruned
			r.Verified++
			return nil
		}
		switch {
		case begun && e.Seq != next:
			why := fmt.Sprintf("sequence %d follows %d: ", e.Seq, next-1)
			if e.Seq > next {
				why += fmt.Sprintf("%d entries before it are missing", e.Seq-next)
			} else {
				why += "it repeats, or was moved"
			}
			r.Broken = append(r.Broken, Break{Line: n, Seq: e.Seq, Why: why})
		case !begun && e.Seq != 1:
			r.Broken = append(r.Broken, Break{Line: n, Seq: e.Seq, Why: fmt.Sprintf("the trail begins at sequence %d with no checkpoint: the entries before it were removed", e.Seq)})
		case mac(key, prev, body) != chain:
			r.Broken = append(r.Broken, Break{Line: n, Seq: e.Seq, Why: "its chain value does not hold: it, or the line before it, was edited, added or removed"})
		default:
			r.Verified++
		}
		if r.First == 0 {
			r.First = e.Seq
		}
		// Go on from this line, so that one edit is named once.
		prev, next, begun = chain, e.Seq+1, true
		r.Last, r.LastChain = e.Seq, chain
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("audit: %s: %w", path, err)
	}
	return r, nil
}

// lines calls each with every non-empty line of r and its number.
func lines(r io.Reader, each func(n int, line []byte) error) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	n := 0
	for len(data) > 0 {
		n++
		i := bytes.IndexByte(data, '\n')
		var line []byte
		if i < 0 {
			line, data = data, nil
		} else {
			line, data = data[:i], data[i+1:]
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if err := each(n, line); err != nil {
			return err
		}
	}
	return nil
}

// errStop ends a scan early.
var errStop = errors.New("stop")

// backwards calls each with the lines of f from the last to the first,
// until it returns false.
func backwards(f *os.File, each func(line []byte) (bool, error)) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	const chunk = 64 * 1024
	end := fi.Size()
	var rest []byte // the start of a line whose beginning is in an earlier chunk
	for end > 0 {
		start := max(end-chunk, 0)
		buf := make([]byte, end-start)
		if _, err := f.ReadAt(buf, start); err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		buf = append(buf, rest...)
		for {
			i := bytes.LastIndexByte(buf, '\n')
			if i < 0 {
				break
			}
			line := buf[i+1:]
			buf = buf[:i]
			if len(bytes.TrimSpace(line)) == 0 {
				continue
			}
			if more, err := each(line); err != nil || !more {
				return err
			}
		}
		rest = buf
		end = start
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		_, err := each(rest)
		return err
	}
	return nil
}
