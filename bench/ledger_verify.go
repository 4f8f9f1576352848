package bench

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/cohort-mpc/cohort/ledger"
)

// benchVerify exports the log in the tlog-tiles layout and times a full
// verification of the export, against one single-core SHA-256 pass over
// the exported bytes (verification hashes every entry and tile at least
// once).
func benchVerify(ctx context.Context, l *ledger.Log, dir string, emit func(Result)) error {
	start := time.Now()
	if _, err := l.Export(ctx, dir); err != nil {
		return err
	}
	exportTime := time.Since(start)
	var total int64
	var files int
	if err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		total += info.Size()
		files++
		return nil
	}); err != nil {
		return err
	}
	src, err := ledger.OpenDir(dir)
	if err != nil {
		return err
	}
	start = time.Now()
	rep, err := ledger.Verify(ctx, src, ledger.VerifyOptions{})
	if err != nil {
		return err
	}
	d := time.Since(start)
	buf := make([]byte, 64<<20)
	hashTime := float64(total) / sha256Rate(buf)
	size := l.Size()
	emit(Result{Suite: "ledger", Case: "export", N: int(size), Metric: "time", Value: exportTime.Seconds(), Unit: "s",
		Note: fmt.Sprintf("%d files, %.0f MB in the C2SP tlog-tiles layout", files, float64(total)/1e6)})
	emit(Result{Suite: "ledger", Case: "verify", N: int(rep.Size), Metric: "time", Value: d.Seconds(), Unit: "s", Limit: hashTime, Ratio: d.Seconds() / hashTime,
		Note: "cohort ledger verify of the export: every entry, chain link, tile, root and signature; limit: one single-core SHA-256 pass over the export's bytes"})
	_ = os.RemoveAll(dir)
	return nil
}
