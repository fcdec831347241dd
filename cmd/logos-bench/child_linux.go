package main

import (
	"os/exec"
	"syscall"
)

// setChildAttrs makes the kernel kill a child when the harness dies, so no
// target outlives an interrupted run.
func setChildAttrs(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
