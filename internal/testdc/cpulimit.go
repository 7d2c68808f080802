//go:build linux

package testdc

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// cpuPeriod is the scheduler period a CPU limit is set over, in µs (the
// kernel's default).
const cpuPeriod = 100000

// LimitCPU caps the DC at share of one CPU (0 < share ≤ 1): it stands in
// for a slower DC, one whose Samba is CPU-bound at a fraction of this
// machine's speed. The samba process is moved into a cgroup of its own
// with that quota: cgroup v2's cpu.max where the cpu controller is enabled
// there, else v1's cpu.cfs_quota_us. Close removes the cgroup.
func (dc *DC) LimitCPU(share float64) error {
	if share <= 0 || share > 1 {
		return fmt.Errorf("testdc: a CPU share of %v: it must be above 0 and at most 1", share)
	}
	if dc.cmd == nil || dc.cmd.Process == nil {
		return errors.New("testdc: the DC is not running")
	}
	root, v2, err := cpuRoot()
	if err != nil {
		return err
	}
	dir := filepath.Join(root, fmt.Sprintf("groupwriteback-testdc-%d", dc.cmd.Process.Pid))
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("testdc: make a cgroup: %w", err)
	}
	quota := strconv.Itoa(int(share * cpuPeriod))
	if v2 {
		err = write(dir, "cpu.max", quota+" "+strconv.Itoa(cpuPeriod))
	} else if err = write(dir, "cpu.cfs_period_us", strconv.Itoa(cpuPeriod)); err == nil {
		err = write(dir, "cpu.cfs_quota_us", quota)
	}
	if err == nil {
		// Samba runs as one process (-M single): all its threads move.
		err = write(dir, "cgroup.procs", strconv.Itoa(dc.cmd.Process.Pid))
	}
	if err != nil {
		_ = os.Remove(dir)
		return fmt.Errorf("testdc: limit the DC's CPU: %w", err)
	}
	dc.cgroup, dc.cpuShare = dir, share
	return nil
}

// CPULimitAvailable reports why LimitCPU cannot work here (no cgroup with
// the cpu controller, or one this process cannot make cgroups in), or nil.
func CPULimitAvailable() error {
	root, _, err := cpuRoot()
	if err != nil {
		return err
	}
	probe := filepath.Join(root, fmt.Sprintf("groupwriteback-probe-%d", os.Getpid()))
	if err := os.Mkdir(probe, 0o755); err != nil {
		return fmt.Errorf("testdc: cannot make a cgroup under %s: %w", root, err)
	}
	return os.Remove(probe)
}

// cpuRoot is where the cpu controller is mounted here.
func cpuRoot() (root string, v2 bool, err error) {
	mounts, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return "", false, err
	}
	root, v2 = cpuController(string(mounts), func(dir string) string {
		b, _ := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
		return string(b)
	})
	if root == "" {
		return "", false, errors.New("testdc: no cgroup with the cpu controller is mounted here (cgroup v2's cpu, or v1's cpu)")
	}
	return root, v2, nil
}

// CPUShare is the share of one CPU the DC is limited to (0: none).
func (dc *DC) CPUShare() float64 { return dc.cpuShare }

// InCgroup reports whether the samba process is in the cgroup LimitCPU
// made.
func (dc *DC) InCgroup() (bool, error) {
	if dc.cgroup == "" {
		return false, nil
	}
	b, err := os.ReadFile(filepath.Join(dc.cgroup, "cgroup.procs"))
	if err != nil {
		return false, err
	}
	return slices.Contains(strings.Fields(string(b)), strconv.Itoa(dc.cmd.Process.Pid)), nil
}

// removeCgroup removes LimitCPU's cgroup once the process is gone.
func (dc *DC) removeCgroup() {
	if dc.cgroup != "" {
		_ = os.Remove(dc.cgroup)
		dc.cgroup = ""
	}
}

// cpuController finds where the cpu controller is mounted, from
// /proc/self/mounts: a cgroup2 mount whose cgroup.controllers (read by
// controllers) lists cpu, else a cgroup (v1) mount with the cpu option.
func cpuController(mounts string, controllers func(dir string) string) (dir string, v2 bool) {
	var v1 string
	for _, line := range strings.Split(mounts, "\n") {
		f := strings.Fields(line)
		if len(f) < 4 {
			continue
		}
		switch f[2] {
		case "cgroup2":
			if slices.Contains(strings.Fields(controllers(f[1])), "cpu") {
				return f[1], true
			}
		case "cgroup":
			if v1 == "" && slices.Contains(strings.Split(f[3], ","), "cpu") {
				v1 = f[1]
			}
		}
	}
	return v1, false
}

func write(dir, file, value string) error {
	return os.WriteFile(filepath.Join(dir, file), []byte(value), 0o644)
}
