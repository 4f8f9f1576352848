//go:build linux && (amd64 || arm64)

package driver

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/ebitengine/purego"
)

// load opens the shared library at path and binds every entry point of a to
// it. It reports the dynamic loader's error, or the entry points the library
// lacks.
func load(path string, a *api) error {
	// dlerror is per thread: read it on the thread dlopen failed on, or
	// the reason may come back empty.
	runtime.LockOSThread()
	lib, err := purego.Dlopen(path, purego.RTLD_NOW|purego.RTLD_GLOBAL)
	runtime.UnlockOSThread()
	if err != nil {
		return fmt.Errorf("dlopen: %w", err)
	}
	var missing []error
	for _, s := range a.symbols() {
		sym, err := purego.Dlsym(lib, s.name)
		if err != nil {
			missing = append(missing, fmt.Errorf("dlsym %s: %w", s.name, err))
			continue
		}
		purego.RegisterFunc(s.fn, sym)
	}
	if len(missing) > 0 {
		// Nothing bound survives: a is discarded by Open. The handle is
		// released so that a wrong library does not stay mapped.
		if err := purego.Dlclose(lib); err != nil {
			missing = append(missing, fmt.Errorf("dlclose: %w", err))
		}
		return errors.Join(missing...)
	}
	return nil
}
