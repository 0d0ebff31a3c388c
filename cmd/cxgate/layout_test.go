package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/cxgate/cxgate/"

// layoutRules reads the ```imports block of the README's Layout section:
// each line is a package (or a prefix ending in /*) and, after "→", the
// packages of this module it may import directly.
func layoutRules(t *testing.T) map[string][]string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, layout, ok := strings.Cut(string(raw), "\n## Layout\n")
	if !ok {
		t.Fatal("README has no Layout section")
	}
	_, block, ok := strings.Cut(layout, "```imports\n")
	if !ok {
		t.Fatal("README's Layout section has no ```imports block")
	}
	block, _, _ = strings.Cut(block, "```")
	rules := map[string][]string{}
	for line := range strings.SplitSeq(strings.TrimSpace(block), "\n") {
		pkg, allowed, ok := strings.Cut(line, "→")
		if !ok {
			t.Fatalf("imports line %q has no →", line)
		}
		var list []string
		for a := range strings.SplitSeq(allowed, ",") {
			if a = strings.TrimSpace(a); a != "" {
				list = append(list, a)
			}
		}
		rules[strings.TrimSpace(pkg)] = list
	}
	return rules
}

func matches(pattern, pkg string) bool {
	if prefix, ok := strings.CutSuffix(pattern, "/*"); ok {
		return strings.HasPrefix(pkg, prefix+"/")
	}
	return pkg == pattern
}

// ruleFor is the most specific rule naming pkg: its exact name, else the
// longest prefix.
func ruleFor(rules map[string][]string, pkg string) (string, bool) {
	best := ""
	for pattern := range rules {
		if !matches(pattern, pkg) {
			continue
		}
		if pattern == pkg {
			return pattern, true
		}
		if len(pattern) > len(best) {
			best = pattern
		}
	}
	return best, best != ""
}

// TestLayoutImports: the import graph the README's Layout section states is
// the code's. Every package a rule names imports, of this module, only what
// the rule allows (tests excluded), and every rule names a package.
func TestLayoutImports(t *testing.T) {
	rules := layoutRules(t)
	cmd := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "./...")
	cmd.Dir = filepath.Join("..", "..")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	used := map[string]bool{}
	for line := range strings.SplitSeq(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(fields[0], module)
		pattern, ok := ruleFor(rules, pkg)
		if !ok {
			continue
		}
		used[pattern] = true
		for _, imp := range fields[1:] {
			dep, ours := strings.CutPrefix(imp, module)
			if !ours {
				continue
			}
			if !slices.ContainsFunc(rules[pattern], func(a string) bool { return matches(a, dep) }) {
				t.Errorf("%s imports %s, which the README's Layout (%s → %s) does not allow", pkg, dep, pattern, strings.Join(rules[pattern], ", "))
			}
		}
	}
	for pattern := range rules {
		if !used[pattern] {
			t.Errorf("the README's Layout names %s, which is no package", pattern)
		}
	}
}
