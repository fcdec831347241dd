//go:build !linux

package main

import "os/exec"

// setChildAttrs does nothing outside Linux.
func setChildAttrs(cmd *exec.Cmd) {}
