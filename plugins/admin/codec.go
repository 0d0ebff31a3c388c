package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// The admin API and the store speak the config types as JSON with the config
// file's field names ("key", "maxChats", "restoreTimeout": "60s"). The config
// types only carry yaml tags, so both directions go through yaml.v3: a JSON
// object is turned into a YAML document and decoded exactly as the config file
// is (unknown fields are errors, durations are strings), and a value is
// encoded as a YAML node and written out as JSON in field order.

// decodeJSON decodes one JSON object into v as the config file would be.
func decodeJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	n, err := jsonNode(dec)
	if err != nil {
		return fmt.Errorf("not valid JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("not valid JSON: data after the object")
	}
	if n.Kind != yaml.MappingNode {
		return errors.New("not a JSON object")
	}
	text, err := yaml.Marshal(n)
	if err != nil {
		return err
	}
	yd := yaml.NewDecoder(bytes.NewReader(text))
	yd.KnownFields(true)
	if err := yd.Decode(v); err != nil {
		return yamlError(err)
	}
	return nil
}

// jsonNode reads one JSON value from dec as a YAML node whose scalars keep
// their JSON types.
func jsonNode(dec *json.Decoder) (*yaml.Node, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch v := tok.(type) {
	case json.Delim:
		n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		if v == '{' {
			n = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		}
		for dec.More() {
			if n.Kind == yaml.MappingNode {
				k, err := dec.Token()
				if err != nil {
					return nil, err
				}
				n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k.(string)})
			}
			c, err := jsonNode(dec)
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, c)
		}
		if _, err := dec.Token(); err != nil { // the closing delimiter
			return nil, err
		}
		return n, nil
	case string:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v}, nil
	case json.Number:
		tag := "!!float"
		if _, err := strconv.ParseInt(v.String(), 10, 64); err == nil {
			tag = "!!int"
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: v.String()}, nil
	case bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(v)}, nil
	case nil:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}, nil
	}
	return nil, fmt.Errorf("unexpected %v", tok)
}

var (
	yamlLine  = regexp.MustCompile(`(line \d+: )|( at line \d+)`)
	yamlTypes = strings.NewReplacer("!!str", "string", "!!int", "number", "!!float", "number", "!!bool", "boolean",
		"!!seq", "array", "!!map", "object", "!!null", "null")
)

// yamlError rewords a decoding error for a JSON client: the line numbers are
// those of a YAML text the client never saw, and the types are JSON's.
func yamlError(err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: unmarshal errors:\n")
	msg = strings.TrimPrefix(msg, "yaml: ")
	msg = yamlTypes.Replace(yamlLine.ReplaceAllString(msg, ""))
	var parts []string
	for _, l := range strings.Split(msg, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			parts = append(parts, l)
		}
	}
	return errors.New(strings.Join(parts, "; "))
}

// encodeJSON writes v as a JSON object with the config file's field names, in
// field order, leaving out the top-level fields named in omit.
func encodeJSON(v any, omit ...string) ([]byte, error) {
	var n yaml.Node
	if err := n.Encode(v); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := writeNode(&buf, &n, omit); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func writeNode(buf *bytes.Buffer, n *yaml.Node, omit []string) error {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) != 1 {
			return errors.New("admin: empty YAML document")
		}
		return writeNode(buf, n.Content[0], omit)
	case yaml.AliasNode:
		return writeNode(buf, n.Alias, nil)
	case yaml.MappingNode:
		buf.WriteByte('{')
		first := true
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			if slices.Contains(omit, k) {
				continue
			}
			if !first {
				buf.WriteByte(',')
			}
			first = false
			key, _ := json.Marshal(k)
			buf.Write(key)
			buf.WriteByte(':')
			if err := writeNode(buf, n.Content[i+1], nil); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	case yaml.SequenceNode:
		buf.WriteByte('[')
		for i, c := range n.Content {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := writeNode(buf, c, nil); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	case yaml.ScalarNode:
		var v any = n.Value
		switch n.ShortTag() {
		case "!!str":
		case "!!null":
			v = nil
		default: // bool, int, float
			if err := n.Decode(&v); err != nil {
				return err
			}
		}
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("admin: encode %q: %w", n.Value, err)
		}
		buf.Write(b)
	default:
		return fmt.Errorf("admin: unexpected YAML node kind %d", n.Kind)
	}
	return nil
}

// withFields adds string fields to a JSON object, in the order given.
func withFields(obj []byte, kv ...string) []byte {
	if len(kv) == 0 {
		return obj
	}
	out := bytes.TrimSuffix(bytes.TrimSpace(obj), []byte("}"))
	out = slices.Clone(out)
	for i := 0; i+1 < len(kv); i += 2 {
		if len(out) > 1 {
			out = append(out, ',')
		}
		k, _ := json.Marshal(kv[i])
		v, _ := json.Marshal(kv[i+1])
		out = append(append(append(out, k...), ':'), v...)
	}
	return append(out, '}')
}
