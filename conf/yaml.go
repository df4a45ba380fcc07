package conf

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"

	"gopkg.in/yaml.v3"
)

// source records where a pool's keys were written.
type source struct {
	file string
	keys map[string]int // key -> line of the key
	// distribution is the distribution: value as written ("" if absent),
	// kept for the warning about slot-based pools.
	distribution string
}

// yamlLine matches the position in yaml.v3's error messages.
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseYAML parses one YAML document and returns its top-level mapping, or
// nil for an empty document. It never panics: yaml.v3 is not expected to,
// but a configuration check must report a bad file, not crash on it.
func parseYAML(file string, data []byte) (root *yaml.Node, err error) {
	defer func() {
		if r := recover(); r != nil {
			root, err = nil, &Error{File: file, Msg: fmt.Sprintf("YAML parser failed: %v", r), Err: ErrSyntax}
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, syntaxError(file, err)
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, syntaxError(file, err)
	default:
		return nil, &Error{File: file, Line: extra.Line, Msg: "a second YAML document: a configuration file holds exactly one", Err: ErrStructure}
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, nil
	}
	n := doc.Content[0]
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, &Error{File: file, Line: n.Line, Msg: "the top level must map pool names to their keys, not be a " + kindName(n), Err: ErrStructure}
	}
	return n, nil
}

func syntaxError(file string, err error) *Error {
	msg := err.Error()
	line := 0
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	return &Error{File: file, Line: line, Msg: "YAML: " + msg, Err: ErrSyntax}
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	case yaml.AliasNode:
		return "alias"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "empty value"
		}
		return "single value"
	}
	return "document"
}

// scalar returns the text of a single value. twemproxy reads every value
// as text, so a quoted "400" is as good as 400.
func scalar(n *yaml.Node) (string, error) {
	if n.Kind == yaml.AliasNode {
		return "", fmt.Errorf("%w: aliases are not supported (twemproxy refuses them too)", ErrBadValue)
	}
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return "", fmt.Errorf("%w: want a single value, not a %s", ErrBadValue, kindName(n))
	}
	return n.Value, nil
}

// number parses a decimal integer in [lo, hi] (digits only, as twemproxy's
// nc_atoi; a leading '-' only when lo < 0).
func number(n *yaml.Node, lo, hi int64) (int64, error) {
	s, err := scalar(n)
	if err != nil {
		return 0, err
	}
	digits := s
	if lo < 0 && len(s) > 1 && s[0] == '-' {
		digits = s[1:]
	}
	if digits == "" || len(digits) > 18 || !isDigits(digits) {
		return 0, fmt.Errorf("%w: %q is not a whole number", ErrBadValue, s)
	}
	v, _ := strconv.ParseInt(s, 10, 64)
	if v < lo || v > hi {
		return 0, fmt.Errorf("%w: %d is not in %d..%d", ErrBadValue, v, lo, hi)
	}
	return v, nil
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// boolean accepts true/false (twemproxy's spelling) and YAML 1.2's
// True/TRUE/False/FALSE.
func boolean(n *yaml.Node) (bool, error) {
	s, err := scalar(n)
	if err != nil {
		return false, err
	}
	switch s {
	case "true", "True", "TRUE":
		return true, nil
	case "false", "False", "FALSE":
		return false, nil
	}
	return false, fmt.Errorf("%w: %q is not true or false", ErrBadValue, s)
}
