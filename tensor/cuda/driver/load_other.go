//go:build !(linux && (amd64 || arm64))

package driver

import (
	"errors"
	"runtime"
)

// load fails: the binding supports linux on amd64 and arm64 only.
func load(path string, a *api) error {
	return errors.New("the CUDA driver binding supports linux/amd64 and linux/arm64, not " + runtime.GOOS + "/" + runtime.GOARCH)
}
