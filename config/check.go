package config

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// The checks in this file walk the YAML node tree against the Config struct
// by its yaml tags, so that every key, present or added later, gets the same
// messages: the key's path, its line and the form it accepts.

var (
	durationType    = reflect.TypeOf(time.Duration(0))
	unmarshalerType = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()
)

// checker collects the problems of a document and the line of every key
// path it saw, for the validation messages that come after decoding.
type checker struct {
	errs  []error
	lines map[string]int
	// visits bounds the walk: aliases may repeat a node many times over.
	visits int
}

// maxVisits is more nodes than any real configuration has, and few enough
// to walk in a moment.
const maxVisits = 1 << 18

func (c *checker) bad(path string, line int, format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf("%s (line %d): %s", path, line, fmt.Sprintf(format, args...)))
}

// checkDocument reports unknown keys (with the nearest known one) and values
// of the wrong form under root, typed t.
func checkDocument(root *yaml.Node, t reflect.Type) *checker {
	c := &checker{lines: map[string]int{}}
	if root != nil && root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
		c.walk(root.Content[0], t, "")
	}
	return c
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func (c *checker) walk(n *yaml.Node, t reflect.Type, path string) {
	if c.visits++; c.visits == maxVisits {
		c.errs = append(c.errs, fmt.Errorf("line %d: the document expands to too many values (aliases?)", n.Line))
	}
	if c.visits >= maxVisits {
		return
	}
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // a key written without a value keeps its default
	}
	name := path
	if name == "" {
		name = "the configuration"
	}
	switch {
	case reflect.PointerTo(t).Implements(unmarshalerType):
		// A type that reads itself: its own message says what it takes.
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			c.bad(name, n.Line, "%s", strings.TrimPrefix(err.Error(), "yaml: "))
		}
		return
	case t == durationType:
		if n.Kind != yaml.ScalarNode {
			c.bad(name, n.Line, "is not a duration such as 90s, 30m or 24h")
		} else if _, err := time.ParseDuration(n.Value); err != nil {
			c.bad(name, n.Line, "%q is not a duration such as 90s, 30m or 24h", n.Value)
		}
		return
	case t.Kind() == reflect.Struct:
		if n.Kind != yaml.MappingNode {
			c.bad(name, n.Line, "is %s, not a set of keys (%s)", describe(n), strings.Join(fieldNames(t), ", "))
			return
		}
		fields := fieldsByName(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			f, ok := fields[k.Value]
			if !ok {
				msg := fmt.Sprintf("unknown key %q", k.Value)
				if near := nearest(k.Value, fieldNames(t)); near != "" {
					msg += fmt.Sprintf(": did you mean %q?", near)
				} else {
					msg += fmt.Sprintf(" (known keys: %s)", strings.Join(fieldNames(t), ", "))
				}
				c.errs = append(c.errs, fmt.Errorf("%s (line %d): %s", join(path, k.Value), k.Line, msg))
				continue
			}
			p := join(path, k.Value)
			c.lines[p] = k.Line
			c.walk(v, f.Type, p)
		}
	case t.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			c.bad(name, n.Line, "is %s, not a list (- item, or [a, b])", describe(n))
			return
		}
		for i, item := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			c.lines[p] = item.Line
			c.walk(item, t.Elem(), p)
		}
	case t.Kind() == reflect.Map:
		if n.Kind != yaml.MappingNode {
			c.bad(name, n.Line, "is %s, not a set of keys", describe(n))
		}
	case t.Kind() == reflect.Interface:
	default:
		if n.Kind != yaml.ScalarNode {
			c.bad(name, n.Line, "is %s, not %s", describe(n), form(t))
			return
		}
		if t.Kind() == reflect.String {
			return // every scalar reads as text
		}
		// The decoder truncates 2.5 into an int: a whole number must be
		// written as one.
		whole := form(t) == "a whole number"
		if err := n.Decode(reflect.New(t).Interface()); err != nil || whole && n.ShortTag() != "!!int" {
			c.bad(name, n.Line, "%q is not %s", n.Value, form(t))
		}
	}
}

// form names what a scalar of type t accepts.
func form(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	default:
		return "text"
	}
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a set of keys"
	case yaml.SequenceNode:
		return "a list"
	default:
		return fmt.Sprintf("%q", n.Value)
	}
}

type field struct{ Type reflect.Type }

func fieldsByName(t reflect.Type) map[string]field {
	m := map[string]field{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if strings.Contains(opts, "inline") && f.Type.Kind() == reflect.Struct {
			for k, v := range fieldsByName(f.Type) {
				m[k] = v
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		m[name] = field{Type: f.Type}
	}
	return m
}

func fieldNames(t reflect.Type) []string {
	var names []string
	for k := range fieldsByName(t) {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// nearest is the known key closest to k, or "" when none is close enough
// to be a likely typo.
func nearest(k string, known []string) string {
	best, bestD := "", 0
	for _, cand := range known {
		d := distance(strings.ToLower(k), strings.ToLower(cand))
		if best == "" || d < bestD {
			best, bestD = cand, d
		}
	}
	limit := max(2, utf8.RuneCountInString(k)/2)
	if best == "" || bestD > limit {
		return ""
	}
	return best
}

// distance is the Levenshtein distance between a and b.
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

var keyPath = regexp.MustCompile(`^([A-Za-z0-9_]+(?:\[\d+\])*(?:\.[A-Za-z0-9_]+(?:\[\d+\])*)*): `)

// withLines rewrites validation errors "path: problem" to
// "path (line N): problem", N the line of the path or of its nearest
// written parent (a required key that is missing has no line of its own).
func (c *checker) withLines(err error) error {
	if err == nil {
		return nil
	}
	var list []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		list = j.Unwrap()
	} else {
		list = []error{err}
	}
	out := make([]error, 0, len(list))
	for _, e := range list {
		m := keyPath.FindStringSubmatch(e.Error())
		if m == nil {
			out = append(out, e)
			continue
		}
		line, ok := 0, false
		for p := m[1]; p != "" && !ok; p = parent(p) {
			line, ok = c.lines[p]
		}
		if !ok {
			out = append(out, e)
			continue
		}
		out = append(out, fmt.Errorf("%s (line %d): %s", m[1], line, strings.TrimPrefix(e.Error(), m[0])))
	}
	return errors.Join(out...)
}

// parent is the path one step up: "a[1].b" → "a[1]" → "a" → "".
func parent(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i < 0 {
		return ""
	}
	return p[:i]
}
