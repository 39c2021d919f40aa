//go:build !linux

package stress

// RaiseFDLimit is a no-op outside Linux.
func RaiseFDLimit() (soft, hard uint64, err error) { return 0, 0, nil }

func fdLimit() uint64 { return 0 }

func openFDs() int { return -1 }

func ephemeralPorts() int { return 0 }
