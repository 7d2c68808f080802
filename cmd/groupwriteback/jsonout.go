package main

import (
	"bufio"
	"encoding/json"
	"io"
	"reflect"
	"strings"
)

// writeJSON writes v as JSON indented by two spaces, ending in a newline,
// exactly as a json.Encoder with that indent does. The slice fields of a
// struct are written one element at a time: the operations of a cycle
// that writes millions of member values are never held whole as JSON
// (doubled again by the indenting), which made the output the largest
// allocation of a first sync.
func writeJSON(w io.Writer, v any) error {
	rv := reflect.ValueOf(v)
	for rv.Kind() == reflect.Pointer && !rv.IsNil() {
		rv = rv.Elem()
	}
	if rv.Kind() != reflect.Struct || !streamable(rv.Type()) {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	bw := bufio.NewWriter(w)
	put := func(x any, prefix string) error {
		b, err := json.MarshalIndent(x, prefix, "  ")
		if err == nil {
			_, err = bw.Write(b)
		}
		return err
	}
	bw.WriteString("{")
	first := true
	t := rv.Type()
	for i := range t.NumField() {
		name, omitEmpty, ok := jsonField(t.Field(i))
		f := rv.Field(i)
		if !ok || omitEmpty && emptyJSON(f) {
			continue
		}
		if !first {
			bw.WriteString(",")
		}
		first = false
		key, _ := json.Marshal(name) // a string: cannot fail
		bw.WriteString("\n  ")
		bw.Write(key)
		bw.WriteString(": ")
		if l, ok := f.Interface().(elements); ok {
			if err := writeElements(bw, l.each, put); err != nil {
				return err
			}
			continue
		}
		if f.Kind() != reflect.Slice || f.IsNil() || f.Len() == 0 || f.Type().Elem().Kind() == reflect.Uint8 || marshals(f.Type()) {
			if err := put(f.Interface(), "  "); err != nil {
				return err
			}
			continue
		}
		each := func(fn func(any) error) error {
			for j := range f.Len() {
				if err := fn(f.Index(j).Interface()); err != nil {
					return err
				}
			}
			return nil
		}
		if err := writeElements(bw, each, put); err != nil {
			return err
		}
	}
	if !first {
		bw.WriteString("\n")
	}
	bw.WriteString("}\n")
	return bw.Flush()
}

// elements is a list field that yields its elements rather than holding
// them (opList): writeJSON writes them as they come.
type elements interface {
	each(func(any) error) error
}

// writeElements writes the elements each yields as an indented JSON list,
// as encoding/json would ("[]" when there are none).
func writeElements(bw *bufio.Writer, each func(func(any) error) error, put func(any, string) error) error {
	n := 0
	err := each(func(x any) error {
		if n == 0 {
			bw.WriteString("[")
		} else {
			bw.WriteString(",")
		}
		n++
		bw.WriteString("\n    ")
		return put(x, "    ")
	})
	switch {
	case err != nil:
		return err
	case n == 0:
		bw.WriteString("[]")
	default:
		bw.WriteString("\n  ]")
	}
	return nil
}

// streamable says whether writeJSON can write t field by field as
// encoding/json would: no embedded fields, no ",string" option, no
// marshaller of its own.
func streamable(t reflect.Type) bool {
	if marshals(t) {
		return false
	}
	for i := range t.NumField() {
		f := t.Field(i)
		if tag := f.Tag.Get("json"); f.Anonymous || strings.Contains(tag, ",string") || strings.Contains(tag, ",omitzero") {
			return false
		}
	}
	return true
}

var marshaler = reflect.TypeFor[json.Marshaler]()

func marshals(t reflect.Type) bool {
	return t.Implements(marshaler) || reflect.PointerTo(t).Implements(marshaler)
}

// jsonField is the name encoding/json gives an exported field, and
// whether it is omitted when empty; ok is false for a field it skips.
func jsonField(f reflect.StructField) (name string, omitEmpty, ok bool) {
	if !f.IsExported() {
		return "", false, false
	}
	tag := f.Tag.Get("json")
	if tag == "-" {
		return "", false, false
	}
	name, opts, _ := strings.Cut(tag, ",")
	if name == "" {
		name = f.Name
	}
	return name, strings.Contains(","+opts+",", ",omitempty,"), true
}

// emptyJSON is encoding/json's "empty" of omitempty.
func emptyJSON(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Interface, reflect.Pointer:
		return v.IsZero()
	}
	return false
}
