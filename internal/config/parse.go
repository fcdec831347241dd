package config

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Parse parses a YAML (or JSON) document and validates it. Errors are *Error
// values, joined with errors.Join when there are several, each carrying the
// line and the field it is about. Unknown fields are errors. An empty input is
// an empty document.
func Parse(data []byte) (*Document, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, syntaxError(err)
	}
	d := &Document{Lines: Lines{}}
	if root.Kind == 0 || len(root.Content) == 0 {
		return d, nil // empty file
	}
	top := root.Content[0]
	if top.Kind == yaml.ScalarNode && top.Tag == "!!null" {
		return d, nil // a file holding only comments or "~"
	}
	p := &problems{lines: d.Lines}
	if top.Kind != yaml.MappingNode {
		p.errs = append(p.errs, &Error{Line: top.Line, Msg: "the document must be a mapping of sections (providers, models, ...)"})
		return nil, p.err()
	}
	walk(top, reflect.TypeFor[Document](), "", d.Lines, p)
	if err := root.Decode(d); err != nil {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			// An *Error like every other problem, so that callers need
			// not tell parse failures apart (ApplyDocument).
			return nil, &Error{Msg: fmt.Sprintf("config: %v", err), Err: err}
		}
		for _, msg := range te.Errors {
			e := typeError(msg, d.Lines)
			e.Err = te
			p.errs = append(p.errs, e)
		}
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	if err := Validate(d); err != nil {
		return nil, err
	}
	return d, nil
}

// walk records the line of every mapping key and sequence element below n in
// lines, under paths like "providers[1].kind", and reports keys that t (the Go
// type n decodes into) has no field for. Aliases are not followed.
func walk(n *yaml.Node, t reflect.Type, path string, lines Lines, p *problems) {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch n.Kind {
	case yaml.MappingNode:
		var fields map[string]reflect.Type
		if t != nil && t.Kind() == reflect.Struct {
			fields = yamlFields(t)
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			child := k.Value
			if path != "" {
				child = path + "." + k.Value
			}
			if _, seen := lines[child]; !seen {
				lines[child] = k.Line
			}
			var ft reflect.Type
			switch {
			case fields != nil:
				if k.Value == "<<" {
					continue // a merge key; yaml resolves it
				}
				var ok bool
				if ft, ok = fields[k.Value]; !ok {
					p.errs = append(p.errs, &Error{Line: k.Line, Field: child, Msg: fmt.Sprintf("unknown field %q (expected one of %s)", k.Value, fieldList(fields))})
					continue
				}
			case t != nil && t.Kind() == reflect.Map:
				ft = t.Elem()
			}
			walk(v, ft, child, lines, p)
		}
	case yaml.ScalarNode:
		// yaml truncates a number with a fraction into an integer field.
		if t != nil && isInt(t.Kind()) && n.ShortTag() == "!!float" {
			p.errs = append(p.errs, &Error{Line: n.Line, Field: path, Msg: fmt.Sprintf("must be an integer, not a number (%s)", n.Value)})
		}
	case yaml.SequenceNode:
		var et reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			et = t.Elem()
		}
		for i, e := range n.Content {
			child := path + "[" + strconv.Itoa(i) + "]"
			lines[child] = e.Line
			walk(e, et, child, lines, p)
		}
	}
}

// isInt reports whether k is an integer kind.
func isInt(k reflect.Kind) bool {
	switch k {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return true
	}
	return false
}

// yamlFields returns the yaml names of t's fields and their types.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	out := make(map[string]reflect.Type, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
	return out
}

// fieldList returns the sorted field names, comma separated.
func fieldList(fields map[string]reflect.Type) string {
	names := make([]string, 0, len(fields))
	for n := range fields {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

var (
	// yamlLineRE matches the "line N: " that starts yaml's messages.
	yamlLineRE = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
	// unmarshalRE matches yaml's "cannot unmarshal !!str `x` into int".
	unmarshalRE = regexp.MustCompile("^cannot unmarshal !!(\\w+)(?: `(.*)`)? into (.+)$")
)

// syntaxError turns an error of the YAML parser into an *Error wrapping it.
func syntaxError(err error) error {
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Error{Line: line, Msg: "invalid YAML: " + m[2], Err: err}
	}
	return &Error{Msg: "invalid YAML: " + strings.TrimPrefix(msg, "yaml: "), Err: err}
}

// typeError turns one message of a *yaml.TypeError ("line 3: cannot
// unmarshal !!str `x` into int") into an *Error naming the field at that line.
func typeError(msg string, lines Lines) *Error {
	m := yamlLineRE.FindStringSubmatch(msg)
	if m == nil {
		return &Error{Msg: msg}
	}
	line, _ := strconv.Atoi(m[1])
	e := &Error{Line: line, Field: pathAt(lines, line), Msg: m[2]}
	if u := unmarshalRE.FindStringSubmatch(m[2]); u != nil {
		got := map[string]string{"seq": "a list", "map": "a mapping", "str": "a string", "int": "an integer", "float": "a number", "bool": "a boolean", "timestamp": "a time", "null": "null"}[u[1]]
		if got == "" {
			got = "!!" + u[1]
		}
		if u[2] != "" {
			got += fmt.Sprintf(" (%s)", u[2])
		}
		e.Msg = fmt.Sprintf("must be %s, not %s", goTypeWords(u[3]), got)
	}
	return e
}

// goTypeWords describes a Go type named in a yaml message for a reader of the file.
func goTypeWords(t string) string {
	switch {
	case strings.HasPrefix(t, "[]"):
		return "a list"
	case strings.HasPrefix(t, "map["), strings.HasPrefix(t, "config."):
		return "a mapping"
	case strings.HasPrefix(t, "int"), strings.HasPrefix(t, "uint"):
		return "an integer"
	case strings.HasPrefix(t, "float"):
		return "a number"
	case t == "bool":
		return "a boolean"
	default:
		return "a string"
	}
}

// pathAt returns the longest recorded path on line, or "".
func pathAt(lines Lines, line int) string {
	best := ""
	for path, l := range lines {
		if l == line && (len(path) > len(best) || len(path) == len(best) && path < best) {
			best = path
		}
	}
	return best
}
