package main

import (
	"fmt"
	"runtime/debug"
)

// versionLine describes the binary from its build information: the module
// version ("(devel)" for a build from a source tree), the VCS commit and time
// the go command stamped (absent with -buildvcs=false or without a .git
// directory), and the Go version.
func versionLine(bi *debug.BuildInfo, ok bool) string {
	if !ok || bi == nil {
		return "logosd unknown (no build information)"
	}
	version := bi.Main.Version
	if version == "" {
		version = "(devel)"
	}
	commit, when, modified := "unknown", "", false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			commit = s.Value
		case "vcs.time":
			when = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if modified {
		commit += " (modified)"
	}
	line := fmt.Sprintf("logosd %s commit %s", version, commit)
	if when != "" {
		line += " built from a tree of " + when
	}
	return line + " " + bi.GoVersion
}
