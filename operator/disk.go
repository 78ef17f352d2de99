package operator

import (
	"fmt"
	"syscall"
)

// DiskSpace is the free space of one folder the operator writes to.
type DiskSpace struct {
	// Name is what the folder is for: "LOGS_DIR", "DATA_DIR".
	Name      string
	Path      string
	FreeBytes uint64
	// Low is set when FreeBytes is below MIN_FREE_DISK.
	Low bool
	// Err is set when the space could not be read.
	Err error
}

// DiskSpace reads the free space of LOGS_DIR and the other folders in
// Config.DiskDirs, for /health and for admission.
func (o *Operator) DiskSpace() []DiskSpace {
	dirs := append([][2]string{{"LOGS_DIR", o.cfg.LogsDir}}, o.cfg.DiskDirs...)
	out := make([]DiskSpace, 0, len(dirs))
	for _, d := range dirs {
		ds := DiskSpace{Name: d[0], Path: d[1]}
		var st syscall.Statfs_t
		if err := syscall.Statfs(d[1], &st); err != nil {
			ds.Err = fmt.Errorf("statfs %s: %w", d[1], err)
		} else {
			ds.FreeBytes = st.Bavail * uint64(st.Bsize)
			ds.Low = o.cfg.MinFreeDisk > 0 && ds.FreeBytes < uint64(o.cfg.MinFreeDisk)
		}
		out = append(out, ds)
	}
	return out
}

// checkDisk refuses a new run while a folder it writes to is below
// MIN_FREE_DISK: a run without room for its log would run blind.
func (o *Operator) checkDisk() error {
	if o.cfg.MinFreeDisk <= 0 {
		return nil
	}
	for _, ds := range o.DiskSpace() {
		if ds.Low {
			return fmt.Errorf("%w: %s (%s) has %s free, below MIN_FREE_DISK=%s", ErrLowDisk, ds.Name, ds.Path, formatBytes(int64(ds.FreeBytes)), formatBytes(o.cfg.MinFreeDisk))
		}
	}
	return nil
}
